// Entry point. Defines <thinkstream-view>; when the document has #app (the
// server's index.html) it also runs the page: home (problem box, examples,
// recent runs) and the run view at /r/{id}.

import { Api, ApiError, saveOwnerToken } from "./api.js";
import { h, isTyping, setText, show } from "./dom.js";
import { defineElement, type ThinkstreamView } from "./element.js";
import { downloadPanel } from "./download.js";
import { renderMath } from "./markdown.js";
import type { Run, ServerInfo } from "./types.js";
import { isTerminalState } from "./types.js";
import { excerpt, formatDuration, looksNonEnglish } from "./util.js";

defineElement();

const api = new Api("");

const examples: { title: string; profile: "math" | "code"; text: string }[] = [
  {
    title: "Perfect square",
    profile: "math",
    text: "Find the sum of all positive integers $n$ such that $n^2 + 12n - 2007$ is a perfect square. Let's think step by step and output the final answer within \\boxed{}.",
  },
  {
    title: "Egyptian fractions",
    profile: "math",
    text: "How many ordered pairs of positive integers $(a, b)$ satisfy $\\frac{1}{a} + \\frac{1}{b} = \\frac{1}{12}$? Let's think step by step and output the final answer within \\boxed{}.",
  },
  {
    title: "Digits of 2^100",
    profile: "math",
    text: "How many digits does $2^{100}$ have, and what is its last digit? Let's think step by step and output the final answer within \\boxed{}.",
  },
  {
    title: "Longest increasing subsequence",
    profile: "code",
    text: "Write a Python function `lis(a: list[int]) -> int` that returns the length of the longest strictly increasing subsequence of `a` in O(n log n) time. Explain the idea, then give the code.",
  },
];


// ---------------------------------------------------------------- theme

type Theme = "auto" | "light" | "dark";

function currentTheme(): Theme {
  try {
    const t = localStorage.getItem("thinkstream.theme");
    if (t === "light" || t === "dark") return t;
  } catch {}
  return "auto";
}

function applyTheme(t: Theme) {
  const root = document.documentElement;
  if (t === "auto") delete root.dataset.theme;
  else root.dataset.theme = t;
  const b = document.getElementById("theme-toggle");
  if (b) {
    b.textContent = t === "auto" ? "Theme: auto" : t === "dark" ? "Theme: dark" : "Theme: light";
    b.setAttribute("aria-label", `Colour theme: ${t}. Change theme`);
  }
}

function cycleTheme() {
  const order: Theme[] = ["auto", "dark", "light"];
  const next = order[(order.indexOf(currentTheme()) + 1) % order.length];
  try {
    localStorage.setItem("thinkstream.theme", next);
  } catch {}
  applyTheme(next);
}

// ---------------------------------------------------------------- routing

let main: HTMLElement;
let cleanup: (() => void) | undefined;

function navigate(path: string, replace = false) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route();
}

function route() {
  cleanup?.();
  cleanup = undefined;
  main.replaceChildren();
  const m = /^\/r\/([^/]+)\/?$/.exec(location.pathname);
  const s = /^\/s\/([^/]+)\/?$/.exec(location.pathname);
  if (m) runPage(decodeURIComponent(m[1]));
  else if (s) sharedPage(decodeURIComponent(s[1]));
  else homePage();
  window.scrollTo(0, 0);
}

function currentView(): ThinkstreamView | null {
  return main.querySelector("thinkstream-view");
}

// ---------------------------------------------------------------- run page

function runPage(id: string) {
  document.title = "Run · thinkstream";
  const el = document.createElement("thinkstream-view") as ThinkstreamView;
  el.setAttribute("page", "");
  el.setAttribute("run", id);
  el.shareLink = makeShareLink;
  main.append(el);
  const onNav = (e: Event) => navigate(`/r/${encodeURIComponent((e as CustomEvent).detail.run)}`);
  el.addEventListener("thinkstream-navigate", onNav);
  const retitle = setInterval(() => {
    const t = el.querySelector(".ts-problem-title")?.textContent;
    if (t) {
      document.title = `${excerpt(t, 60)} · thinkstream`;
      clearInterval(retitle);
    }
  }, 300);
  cleanup = () => clearInterval(retitle);
}

// makeShareLink is what Share copies on a token-mode server: a read-only
// share link (/s/{secret}) that works for anyone, logged in or not. In open
// mode, or for a run one does not own, it is the run's own link.
async function makeShareLink(id: string): Promise<string | undefined> {
  const who = await api.whoami();
  if (who.mode !== "token") return undefined;
  const link = await api.createShare(id);
  return new URL(link.path, location.href).toString();
}

// sharedPage is the run page of a share link: read-only, no login needed.
function sharedPage(secret: string) {
  document.title = "Shared run · thinkstream";
  const el = document.createElement("thinkstream-view") as ThinkstreamView;
  el.setAttribute("page", "");
  el.setAttribute("share", secret);
  main.append(el);
  const retitle = setInterval(() => {
    const t = el.querySelector(".ts-problem-title")?.textContent;
    if (t) {
      document.title = `${excerpt(t, 60)} · thinkstream`;
      clearInterval(retitle);
    }
  }, 300);
  cleanup = () => clearInterval(retitle);
}

// ---------------------------------------------------------------- home page

function homePage() {
  document.title = "thinkstream: watch a model think";
  const problem = h("textarea", { id: "problem", name: "problem", rows: "6", required: true, class: "ts-textarea", "aria-describedby": "problem-help lang-hint problem-err", placeholder: "Type a math or coding problem…" });
  const hint = h("p", { id: "lang-hint", class: "ts-hint", hidden: true, text: "This problem does not look like English. VibeThinker reasons more consistently in English: consider translating it." });
  const help = h("p", { id: "problem-help", class: "ts-help", text: "Markdown and LaTeX ($x^2$) are fine. Ctrl+Enter starts the run." });
  const fieldErr = (id: string) => h("p", { id, class: "ts-field-error", hidden: true });
  const profileMath = h("input", { type: "radio", name: "profile", value: "math", id: "profile-math", checked: true });
  const profileCode = h("input", { type: "radio", name: "profile", value: "code", id: "profile-code" });
  const temperature = h("input", { type: "number", id: "temperature", name: "temperature", min: "0", max: "2", step: "0.05", value: "1", class: "ts-input ts-num", "aria-describedby": "temperature-err" });
  const maxTokens = h("input", { type: "number", id: "max_tokens", name: "max_tokens", min: "1", max: "40960", step: "1", value: "16384", class: "ts-input ts-num", "aria-describedby": "max_tokens-err" });
  const submit = h("button", { type: "submit", class: "ts-btn ts-primary" }, "Start thinking");
  const formErr = h("div", { class: "ts-form-error", role: "alert" });
  let tempEdited = false;
  let maxEdited = false;
  temperature.addEventListener("input", () => (tempEdited = true));
  maxTokens.addEventListener("input", () => (maxEdited = true));
  // The profiles' defaults are the server's (a --profiles file changes
  // them), read from /v1/info; until it answers the fields keep the
  // built-in math profile's values.
  let defaults: ServerInfo["profiles"] = [];
  const onProfile = () => {
    const p = defaults.find((d) => d.name === (profileCode.checked ? "code" : "math"));
    if (!p) return;
    if (!tempEdited && p.temperature !== undefined) temperature.value = String(p.temperature);
    if (!maxEdited && p.max_tokens) maxTokens.value = String(p.max_tokens);
  };
  const engineLine = h("p", { class: "ts-engine", "aria-live": "polite", text: "Checking which engine answers…" });
  // With the simulator answering, the server may offer to download a real model.
  const download = h("div", { class: "ts-download-slot" });
  const showEngine = (info: ServerInfo) => {
    engineLine.dataset.simulated = String(info.engine.simulated);
    setText(
      engineLine,
      info.engine.simulated
        ? "Answers here come from the built-in simulator: it replays worked examples to show the interface; no model is loaded. Start the server with --model (a VibeThinker GGUF) or --upstream for real answers."
        : `Answers come from ${info.engine.model || "the configured model"}.`,
    );
  };
  void api
    .info()
    .then((info) => {
      defaults = info.profiles;
      if (info.max_tokens) maxTokens.max = String(info.max_tokens);
      onProfile();
      showEngine(info);
      if (info.engine.simulated) download.replaceChildren(downloadPanel(api, () => void api.info().then(showEngine, () => undefined)));
    })
    .catch(() => engineLine.remove());
  profileMath.addEventListener("change", onProfile);
  profileCode.addEventListener("change", onProfile);
  let hintTimer: ReturnType<typeof setTimeout> | undefined;
  problem.addEventListener("input", () => {
    clearTimeout(hintTimer);
    hintTimer = setTimeout(() => show(hint, looksNonEnglish(problem.value)), 250);
  });
  problem.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  const form = h(
    "form",
    { class: "ts-ask", novalidate: true, "aria-labelledby": "ask-h" },
    h("label", { for: "problem", class: "ts-label-block", text: "Problem" }),
    problem,
    fieldErr("problem-err"),
    hint,
    help,
    h(
      "div",
      { class: "ts-form-row" },
      h("fieldset", { class: "ts-profile" }, h("legend", { text: "Profile" }), h("label", {}, profileMath, " Math"), h("label", {}, profileCode, " Code")),
      h("div", { class: "ts-field" }, h("label", { for: "temperature", text: "Temperature" }), temperature, fieldErr("temperature-err")),
      h("div", { class: "ts-field" }, h("label", { for: "max_tokens", text: "Max tokens" }), maxTokens, fieldErr("max_tokens-err")),
      submit,
    ),
    formErr,
  );

  const clearErrors = () => {
    formErr.replaceChildren();
    for (const el of form.querySelectorAll<HTMLElement>(".ts-field-error")) {
      el.hidden = true;
      el.textContent = "";
    }
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  };
  const fieldFor: Record<string, [HTMLElement, string]> = {
    problem: [problem, "problem-err"],
    "params.temperature": [temperature, "temperature-err"],
    temperature: [temperature, "temperature-err"],
    "params.max_tokens": [maxTokens, "max_tokens-err"],
    max_tokens: [maxTokens, "max_tokens-err"],
  };
  const showFieldError = (field: string, msg: string): boolean => {
    const f = fieldFor[field];
    if (!f) return false;
    f[0].setAttribute("aria-invalid", "true");
    const p = document.getElementById(f[1])!;
    p.textContent = msg;
    p.hidden = false;
    return true;
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    const text = problem.value.trim();
    if (!text) {
      showFieldError("problem", "Type a problem first.");
      problem.focus();
      return;
    }
    const temp = parseFloat(temperature.value);
    const max = parseInt(maxTokens.value, 10);
    const params: Record<string, number> = {};
    if (!isNaN(temp)) params.temperature = temp;
    if (!isNaN(max)) params.max_tokens = max;
    submit.disabled = true;
    submit.textContent = "Starting…";
    try {
      const run = await api.createRun({ problem: text, profile: profileCode.checked ? "code" : "math", params });
      if (run.owner_token) saveOwnerToken(run.id, run.owner_token);
      navigate(`/r/${encodeURIComponent(run.id)}`);
    } catch (err) {
      const ae = err as ApiError;
      const p = ae.problem || {};
      let placed = false;
      for (const fe of p.errors || []) placed = showFieldError(fe.field, fe.message) || placed;
      formErr.replaceChildren(
        h("p", { class: "ts-error-what", text: p.title || "Could not start the run." }),
        ...(p.detail ? [h("p", { class: "ts-error-next", text: p.detail })] : []),
        ...(placed ? [] : (p.errors || []).map((fe) => h("p", { class: "ts-error-next", text: `${fe.field}: ${fe.message}` }))),
        h("p", { class: "ts-error-next", text: ae.status === 0 ? "The server did not answer: check that it is running, then try again." : ae.status >= 500 ? "The server had a problem: try again in a moment." : "Fix the problem above and try again." }),
      );
    } finally {
      submit.disabled = false;
      submit.textContent = "Start thinking";
    }
  });

  const exampleList = h(
    "ul",
    { class: "ts-examples" },
    ...examples.map((ex) => {
      const b = h("button", { type: "button", class: "ts-example" }, h("span", { class: "ts-example-title", text: ex.title }), h("span", { class: "ts-example-kind", text: ex.profile }));
      b.addEventListener("click", () => {
        problem.value = ex.text;
        (ex.profile === "code" ? profileCode : profileMath).checked = true;
        tempEdited = false;
        onProfile();
        show(hint, false);
        problem.focus();
      });
      return h("li", {}, b);
    }),
  );

  const runsList = h("ul", { class: "ts-runs", "aria-live": "off" });
  const more = h("button", { type: "button", class: "ts-btn", hidden: true }, "Show older runs");
  const runsStatus = h("p", { class: "ts-help", role: "status" });
  let next: string | null = null;
  const loadRuns = async (append: boolean) => {
    try {
      const list = await api.listRuns(append ? next || undefined : undefined);
      if (!append) runsList.replaceChildren();
      for (const r of list.runs) runsList.append(runItem(r));
      next = list.next;
      show(more, !!next);
      runsStatus.textContent = runsList.childElementCount ? "" : "No runs yet: start one above.";
      return list.runs.some((r) => !isTerminalState(r.state));
    } catch (err) {
      runsStatus.textContent = `Could not load recent runs: ${(err as Error).message}`;
      return false;
    }
  };
  more.addEventListener("click", () => void loadRuns(true));
  let poll: ReturnType<typeof setTimeout> | undefined;
  let left = false;
  const refresh = async () => {
    const active = await loadRuns(false);
    // While a listed run is still going, refresh its state now and then.
    if (active && !next && !left) poll = setTimeout(refresh, 3000);
  };
  void refresh();
  cleanup = () => {
    left = true;
    clearTimeout(poll);
    clearTimeout(hintTimer);
  };

  main.append(
    h("section", { class: "ts-home-ask", "aria-labelledby": "ask-h" }, h("h1", { id: "ask-h", text: "Watch a model think" }), h("p", { class: "ts-lead", text: "Ask a math or coding problem and follow the model's reasoning live, step by step. Share the link: everyone watching sees the same stream." }), engineLine, download, form),
    h("section", { class: "ts-home-examples", "aria-labelledby": "ex-h" }, h("h2", { id: "ex-h", text: "Examples" }), exampleList),
    h("section", { class: "ts-home-runs", "aria-labelledby": "runs-h" }, h("h2", { id: "runs-h", text: "Recent runs" }), runsStatus, runsList, more),
  );
}

function runItem(r: Run): HTMLElement {
  const start = r.started_at ? Date.parse(r.started_at) : Date.parse(r.created_at);
  const end = r.ended_at ? Date.parse(r.ended_at) : Date.now();
  const dur = isFinite(start) && isFinite(end) ? formatDuration(end - start) : "";
  const answer = r.answer ? h("span", { class: "ts-run-answer" }, "Answer: ", h("span", { class: "ts-math", "data-tex": r.answer }, r.answer)) : null;
  const li = h(
    "li",
    { class: "ts-run-item" },
    h(
      "a",
      { href: `/r/${encodeURIComponent(r.id)}`, "data-nav": "", class: "ts-run-link" },
      h("span", { class: "ts-badge", "data-state": r.state, text: r.state }),
      h("span", { class: "ts-run-problem", text: excerpt(r.problem, 140) }),
      h("span", { class: "ts-run-meta", text: [dur, r.profile, r.simulated ? "simulated" : ""].filter(Boolean).join(" · ") }),
      answer,
    ),
  );
  if (answer) renderMath(li);
  return li;
}

// ---------------------------------------------------------------- keyboard

function onKey(e: KeyboardEvent) {
  if (e.ctrlKey || e.metaKey || e.altKey || isTyping(e)) return;
  const v = currentView()?.view;
  const dialog = document.getElementById("help") as HTMLDialogElement | null;
  switch (e.key) {
    case "?":
      if (dialog) dialog.open ? dialog.close() : dialog.showModal();
      break;
    case "/":
      if (document.getElementById("problem")) document.getElementById("problem")!.focus();
      else return;
      break;
    case "n":
      navigate("/");
      break;
    case "d":
      cycleTheme();
      break;
    case "t":
      v?.toggleThinking();
      break;
    case "j":
      v?.stepBy(1);
      break;
    case "k":
      v?.stepBy(-1);
      break;
    case "p":
      v?.togglePauseView();
      break;
    case "l":
      v?.jumpToLatest();
      break;
    case "r":
      v?.toggleSpeech();
      break;
    case "s":
      (v?.root.querySelector("[data-action=share]") as HTMLElement | null)?.click();
      break;
    default:
      return;
  }
  e.preventDefault();
}

// ---------------------------------------------------------------- boot

function helpDialog(): HTMLDialogElement {
  const keys: [string, string][] = [
    ["?", "show or hide this help"],
    ["/", "type a problem (home)"],
    ["n", "new run (home)"],
    ["t", "show or hide the thinking"],
    ["j / k", "next / previous step"],
    ["p", "pause or resume the view"],
    ["l", "jump to the latest text"],
    ["r", "read aloud or stop"],
    ["s", "copy the link to this run"],
    ["d", "change colour theme"],
  ];
  const close = h("button", { type: "button", class: "ts-btn" }, "Close");
  const d = h("dialog", { id: "help", class: "ts-dialog", "aria-labelledby": "help-h" }, h("h2", { id: "help-h", text: "Keyboard shortcuts" }), h("dl", { class: "ts-keys" }, ...keys.flatMap(([k, what]) => [h("dt", {}, h("kbd", { text: k })), h("dd", { text: what })])), close);
  close.addEventListener("click", () => d.close());
  return d;
}

function boot() {
  const app = document.getElementById("app");
  if (!app) return;
  applyTheme(currentTheme());
  const themeBtn = h("button", { type: "button", id: "theme-toggle", class: "ts-btn ts-ghost" });
  themeBtn.addEventListener("click", cycleTheme);
  const helpBtn = h("button", { type: "button", class: "ts-btn ts-ghost", "aria-haspopup": "dialog" }, "Shortcuts (?)");
  const dialog = helpDialog();
  helpBtn.addEventListener("click", () => dialog.showModal());
  main = h("main", { id: "main", class: "ts-main", tabindex: "-1" });
  app.replaceChildren(
    h("a", { href: "#main", class: "ts-skip" }, "Skip to content"),
    h("header", { class: "ts-top" }, h("a", { href: "/", class: "ts-logo", "data-nav": "" }, "thinkstream"), h("nav", { class: "ts-nav", "aria-label": "Main" }, h("a", { href: "/", "data-nav": "", class: "ts-btn ts-ghost" }, "New run"), themeBtn, helpBtn)),
    main,
    h("footer", { class: "ts-foot" }, h("p", { text: "thinkstream streams a reasoning model's chain of thought. Reasoning can be wrong: check the answer." })),
    dialog,
  );
  applyTheme(currentTheme());
  document.addEventListener("click", (e) => {
    const a = (e.target as HTMLElement).closest?.("a[data-nav]") as HTMLAnchorElement | null;
    if (!a || e.defaultPrevented || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(a.getAttribute("href") || "/");
  });
  window.addEventListener("popstate", route);
  document.addEventListener("keydown", onKey);
  route();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
else boot();
