// Builds web/dist deterministically: same sources and lockfile, same bytes.
// Hashed names (app-HASH.js/.css, fonts) may be cached forever; index.html,
// embed-example.html and the stable loader assets/thinkstream-view.js may not.
//
//   node build.mjs          build dist/
//   node build.mjs --tests  bundle test/*.test.ts for `node --test`

import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const assets = join(dist, "assets");

if (process.argv.includes("--tests")) {
  const out = join(here, "node_modules", ".cache", "ts-tests");
  rmSync(out, { recursive: true, force: true });
  const tests = readdirSync(join(here, "test")).filter((f) => f.endsWith(".test.ts")).map((f) => join(here, "test", f));
  await esbuild.build({
    entryPoints: tests,
    outdir: out,
    bundle: true,
    platform: "node",
    format: "esm",
    outExtension: { ".js": ".mjs" },
    target: "node20",
    logLevel: "warning",
  });
  process.exit(0);
}

// KaTeX's stylesheet lists woff2, woff and ttf for every font; every browser
// we support takes woff2, so drop the others and keep dist small.
const katexWoff2Only = {
  name: "katex-woff2-only",
  setup(build) {
    build.onLoad({ filter: /katex\.min\.css$/ }, (args) => {
      const css = readFileSync(args.path, "utf8").replace(/,url\([^)]*\.(?:woff|ttf)\) format\("(?:woff|truetype)"\)/g, "");
      return { contents: css, loader: "css", resolveDir: dirname(args.path) };
    });
  },
};

rmSync(dist, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const common = {
  bundle: true,
  minify: true,
  outdir: assets,
  entryNames: "[name]-[hash]",
  assetNames: "fonts/[name]-[hash]",
  metafile: true,
  logLevel: "warning",
  legalComments: "eof",
  charset: "utf8",
};

const js = await esbuild.build({
  ...common,
  entryPoints: { app: join(here, "src", "main.ts") },
  format: "esm",
  target: ["es2022", "chrome100", "firefox100", "safari15.4"],
});
const css = await esbuild.build({
  ...common,
  entryPoints: { app: join(here, "src", "app.css") },
  loader: { ".woff2": "file", ".woff": "empty", ".ttf": "empty" },
  plugins: [katexWoff2Only],
  target: ["chrome100", "firefox100", "safari15.4"],
});

function outName(result, ext) {
  const f = Object.keys(result.metafile.outputs).find((p) => p.endsWith(ext) && !p.includes("/fonts/"));
  return f.slice(f.lastIndexOf("/") + 1);
}
const appJs = outName(js, ".js");
const appCss = outName(css, ".css");

const favicon = readFileSync(join(here, "favicon.svg"));
const faviconName = `favicon-${createHash("sha256").update(favicon).digest("hex").slice(0, 8)}.svg`;
writeFileSync(join(assets, faviconName), favicon);

const fill = (s) => s.replaceAll("{{APP_JS}}", appJs).replaceAll("{{APP_CSS}}", appCss).replaceAll("{{FAVICON}}", faviconName);
writeFileSync(join(dist, "index.html"), fill(readFileSync(join(here, "index.html"), "utf8")));
writeFileSync(join(dist, "embed-example.html"), fill(readFileSync(join(here, "embed-example.html"), "utf8")));
writeFileSync(join(assets, "embed-example.js"), readFileSync(join(here, "embed-example.js")));
writeFileSync(join(assets, "embed-example.css"), readFileSync(join(here, "embed-example.css")));

// The stable loader for embedders: a classic script that finds its own URL,
// then loads the hashed stylesheet and module next to it.
const loader = `/* thinkstream-view loader: <script src=".../assets/thinkstream-view.js" defer></script> */
(function () {
  var s = document.currentScript;
  var base = new URL(".", s && s.src ? s.src : location.href);
  if (!document.querySelector("link[data-thinkstream]")) {
    var l = document.createElement("link");
    l.rel = "stylesheet";
    l.href = new URL(${JSON.stringify(appCss)}, base).href;
    l.setAttribute("data-thinkstream", "");
    document.head.appendChild(l);
  }
  if (!window.customElements || !customElements.get("thinkstream-view")) {
    var m = document.createElement("script");
    m.type = "module";
    m.src = new URL(${JSON.stringify(appJs)}, base).href;
    document.head.appendChild(m);
  }
})();
`;
writeFileSync(join(assets, "thinkstream-view.js"), loader);

let total = 0;
const walk = (d) => {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    if (e.isDirectory()) walk(join(d, e.name));
    else total += readFileSync(join(d, e.name)).length;
  }
};
walk(dist);
console.log(`dist: ${appJs}, ${appCss}; ${(total / 1024).toFixed(0)} KiB in all`);
