// <thinkstream-view run="ID" | src="EVENTS_URL" | share="SHARE_URL" theme="light|dark|auto" base="ORIGIN">
// renders a run exactly like the page does. Attributes are plain strings, so
// it works from plain HTML, React (<thinkstream-view run={id} />) and Vue
// (with compilerOptions.isCustomElement).

import { Api, saveOwnerToken } from "./api.js";
import { h } from "./dom.js";
import { RunView } from "./view.js";

/** defaultBase is the origin the bundle was served from ("" when it is the page's). */
function defaultBase(): string {
  try {
    const u = new URL(import.meta.url);
    return u.origin === location.origin ? "" : u.origin;
  } catch {
    return "";
  }
}

export class ThinkstreamView extends HTMLElement {
  static observedAttributes = ["run", "src", "share", "theme", "base"];
  view?: RunView;
  /** shareLink, set by the page before the element connects, makes Share copy a share link. */
  shareLink?: (runId: string) => Promise<string | undefined>;
  private queued = false;

  connectedCallback(): void {
    this.setup();
  }

  disconnectedCallback(): void {
    this.view?.destroy();
    this.view = undefined;
    this.replaceChildren();
  }

  attributeChangedCallback(name: string, old: string | null, val: string | null): void {
    if (old === val || !this.isConnected || !this.view) return;
    if (name === "theme") {
      this.applyTheme();
      return;
    }
    if (this.queued) return;
    this.queued = true;
    queueMicrotask(() => {
      this.queued = false;
      this.setup();
    });
  }

  private applyTheme() {
    const t = this.getAttribute("theme");
    const root = this.view?.root;
    if (!root) return;
    if (t === "light" || t === "dark") root.dataset.theme = t;
    else delete root.dataset.theme;
  }

  private setup() {
    this.view?.destroy();
    this.replaceChildren();
    const src = this.getAttribute("src");
    const run = this.getAttribute("run");
    let base = this.getAttribute("base") ?? defaultBase();
    if (!this.hasAttribute("base") && src) {
      try {
        const u = new URL(src, location.href);
        base = u.origin === location.origin ? "" : u.origin;
      } catch {}
    }
    // share: a share link (https://host/s/SECRET, whose origin is then the
    // server) or its bare secret.
    let secret: string | undefined;
    const share = this.getAttribute("share");
    if (share) {
      const m = /\/s\/([^/?#]+)/.exec(share);
      secret = m ? decodeURIComponent(m[1]) : share;
      if (m && !this.hasAttribute("base")) {
        try {
          const u = new URL(share, location.href);
          base = u.origin === location.origin ? "" : u.origin;
        } catch {}
      }
    }
    const api = new Api(base.replace(/\/$/, ""), secret);
    const page = this.hasAttribute("page");
    this.view = new RunView({
      api,
      page,
      shareLink: secret ? undefined : this.shareLink,
      onRetry: page
        ? (r) => {
            void api.createRun({ problem: r.problem, system: r.system, profile: r.profile, params: r.params }).then((nr) => {
              if (nr.owner_token) saveOwnerToken(nr.id, nr.owner_token);
              this.dispatchEvent(new CustomEvent("thinkstream-navigate", { bubbles: true, detail: { run: nr.id } }));
            }, (err) => alert(`Could not start the run again: ${(err as Error).message}`));
          }
        : undefined,
    });
    this.append(this.view.root);
    this.applyTheme();
    if (run) void this.view.load(run);
    else if (src) this.view.followSrc(src);
    else if (secret) {
      const view = this.view;
      void api.resolveShare(secret).then(
        (s) => {
          if (this.view === view) void view.load(s.run_id);
        },
        () => {
          if (this.view !== view) return;
          view.root.prepend(h("p", { class: "ts-error-what", role: "alert", text: "This share link is unknown, revoked or expired." }));
        },
      );
    }
  }

  /** transcript returns the raw text received so far (used by tests). */
  transcript() {
    return this.view?.transcript();
  }
}

export function defineElement(): void {
  if (!customElements.get("thinkstream-view")) customElements.define("thinkstream-view", ThinkstreamView);
}
