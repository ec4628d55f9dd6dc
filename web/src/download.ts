// The home page's way from the simulator to a real model: offer to
// download VibeThinker-1.5B (GET /v1/models/pulls, admin only in token
// mode), let the reader choose the quantization by size, show progress
// with rate and time left, cancel, and "Download again" continues where
// it stopped. When the server has loaded the model it answers new runs;
// onReady tells the page.

import { Api, ApiError } from "./api.js";
import { h, setText, show } from "./dom.js";
import { formatBytes, formatDuration } from "./util.js";

interface RemoteFile {
  path: string;
  quant: string;
  size: number;
  /** partial: bytes an interrupted download left; the next one continues from them. */
  partial?: number;
}

export interface Pull {
  id: string;
  repo: string;
  quant: string;
  file: string;
  state: "downloading" | "loading" | "ready" | "failed" | "cancelled";
  done: number;
  total: number;
  resumed: number;
  rate: number;
  eta_s: number;
  error?: string;
}

interface Offer {
  repo: string;
  default_quant: string;
  pull?: Pull;
}

/**
 * downloadPanel returns the offer's element, filled once the server says
 * it offers a download; undefined content (hidden) when it does not or the
 * reader may not.
 */
export function downloadPanel(api: Api, onReady: () => void): HTMLElement {
  const status = h("p", { class: "ts-dl-status", role: "status" });
  const bar = h("progress", { class: "ts-dl-bar", max: "1", value: "0", "aria-label": "Download progress", hidden: true });
  const choose = h("button", { type: "button", class: "ts-btn ts-primary", "data-dl": "choose" }, "Download VibeThinker-1.5B…");
  const quant = h("select", { class: "ts-select", "aria-label": "Quantization", "data-dl": "quant", hidden: true });
  const start = h("button", { type: "button", class: "ts-btn ts-primary", "data-dl": "start", hidden: true }, "Download");
  const cancel = h("button", { type: "button", class: "ts-btn", "data-dl": "cancel", hidden: true }, "Cancel download");
  const lead = h("p", { class: "ts-dl-lead", text: "Get real answers: download VibeThinker-1.5B (a GGUF file) and this server runs it itself, no restart." });
  const root = h(
    "section",
    { class: "ts-download", "aria-label": "Download a real model", hidden: true },
    lead,
    h("div", { class: "ts-dl-controls" }, choose, quant, start, cancel),
    bar,
    status,
  );
  let current: Pull | undefined;
  let es: EventSource | undefined;
  let defaultQuant = "";

  const render = (p: Pull) => {
    current = p;
    const active = p.state === "downloading" || p.state === "loading";
    show(cancel, p.state === "downloading");
    show(bar, active);
    show(lead, p.state !== "ready");
    show(choose, !active && p.state !== "ready");
    choose.textContent = p.state === "failed" || p.state === "cancelled" ? "Download again…" : "Download VibeThinker-1.5B…";
    show(quant, false);
    show(start, false);
    if (p.total > 0) {
      (bar as HTMLProgressElement).max = p.total;
      (bar as HTMLProgressElement).value = p.done;
    }
    const of = p.total > 0 ? `${formatBytes(p.done)} of ${formatBytes(p.total)}` : formatBytes(p.done);
    switch (p.state) {
      case "downloading": {
        const bits = [`Downloading ${p.file}: ${of}`];
        if (p.resumed > 0) bits.push(`resumed at ${formatBytes(p.resumed)}`);
        if (p.rate > 0) bits.push(`${formatBytes(p.rate)}/s`);
        if (p.eta_s > 0) bits.push(`about ${formatDuration(p.eta_s * 1000)} left`);
        setText(status, bits.join(" · "));
        break;
      }
      case "loading":
        setText(status, `Downloaded ${p.file}; loading the model…`);
        break;
      case "ready":
        setText(status, `VibeThinker-1.5B (${p.quant}) is loaded: new runs are answered by it.`);
        root.dataset.ready = "1";
        onReady();
        break;
      case "failed":
        setText(status, p.error || "The download failed. Download again to continue from where it stopped.");
        break;
      case "cancelled":
        setText(status, `Download cancelled at ${of}. Download again to continue from there.`);
        break;
    }
    root.dataset.state = p.state;
  };

  const follow = (p: Pull) => {
    render(p);
    es?.close();
    if (p.state !== "downloading" && p.state !== "loading") return;
    es = new EventSource(`${api.base}/v1/models/pulls/${encodeURIComponent(p.id)}/events`, { withCredentials: !!api.base });
    es.addEventListener("pull", (ev) => {
      const next = JSON.parse((ev as MessageEvent).data) as Pull;
      render(next);
      if (next.state !== "downloading" && next.state !== "loading") es?.close();
    });
    // A dropped stream reconnects by itself; a pull that is gone (server
    // restarted) ends it: ask where things stand.
    es.onerror = () => {
      if (es?.readyState === EventSource.CLOSED) void api.req<Pull>("GET", `/v1/models/pulls/${encodeURIComponent(p.id)}`).then(follow, () => undefined);
    };
  };

  choose.addEventListener("click", async () => {
    choose.disabled = true;
    setText(status, "Asking the model hub which files there are…");
    try {
      const r = await api.req<{ files: RemoteFile[]; default_quant: string }>("GET", "/v1/models/pulls/files");
      const pick = current?.quant || r.default_quant || defaultQuant;
      quant.replaceChildren(...r.files.map((f) => h("option", { value: f.quant, text: `${f.quant} — ${f.size >= 0 ? formatBytes(f.size) : "size unknown"}${f.partial ? ` (${formatBytes(f.partial)} already here, continues)` : ""}`, selected: f.quant === pick ? "" : undefined })));
      quant.value = pick;
      show(choose, false);
      show(quant, true);
      show(start, true);
      setText(status, "Smaller files answer faster and a little less well; Q4_K_M is a good start.");
      start.focus();
    } catch (err) {
      setText(status, `Could not list the downloads: ${(err as ApiError).message}`);
    } finally {
      choose.disabled = false;
    }
  });
  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      follow(await api.req<Pull>("POST", "/v1/models/pulls", { quant: quant.value }));
    } catch (err) {
      setText(status, `Could not start the download: ${(err as ApiError).message}`);
    } finally {
      start.disabled = false;
    }
  });
  cancel.addEventListener("click", async () => {
    if (!current) return;
    es?.close();
    try {
      render(await api.req<Pull>("DELETE", `/v1/models/pulls/${encodeURIComponent(current.id)}`));
    } catch (err) {
      setText(status, `Could not cancel: ${(err as ApiError).message}`);
    }
  });

  void api
    .req<Offer>("GET", "/v1/models/pulls")
    .then((o) => {
      defaultQuant = o.default_quant;
      show(root, true);
      if (o.pull) follow(o.pull);
    })
    .catch(() => root.remove()); // not offered here, or not for this reader
  return root;
}
