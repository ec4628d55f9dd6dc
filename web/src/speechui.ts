// The read-aloud controls of a run view: the button, what to read, and the
// voice and rate of the Speaker. The view decides what is spoken when.

import { h, setText } from "./dom.js";
import type { RunModel } from "./model.js";
import { Speaker, type SpeechMode } from "./speech.js";

export interface SpeechControls {
  root: HTMLElement;
  /** mode and button are absent where the browser cannot speak. */
  mode?: HTMLSelectElement;
  button?: HTMLButtonElement;
}

/** speechControls builds the controls; onMode is called when the reader picks another mode. */
export function speechControls(speaker: Speaker, onMode: (mode: SpeechMode) => void): SpeechControls {
  if (!Speaker.supported()) return { root: h("span", { hidden: true }) };
  const mode = h(
    "select",
    { class: "ts-select", "aria-label": "What to read aloud" },
    h("option", { value: "answer", text: "the answer" }),
    h("option", { value: "thinking", text: "thinking, step by step" }),
  );
  const voice = h("select", { class: "ts-select", "aria-label": "Voice" }, h("option", { value: "", text: "Default voice" }));
  const fillVoices = () => {
    const vs = speaker.voices();
    if (voice.options.length - 1 === vs.length) return;
    voice.replaceChildren(h("option", { value: "", text: "Default voice" }), ...vs.map((v) => h("option", { value: v.voiceURI, text: `${v.name} (${v.lang})` })));
  };
  try {
    window.speechSynthesis.addEventListener?.("voiceschanged", fillVoices);
  } catch {}
  fillVoices();
  const rate = h("input", { type: "range", min: "0.5", max: "2", step: "0.25", value: "1", class: "ts-rate", "aria-label": "Speech rate" });
  const button = h("button", { type: "button", class: "ts-btn", "data-action": "speak", "aria-pressed": "false", title: "Read aloud (r)" }, "Read aloud");
  voice.addEventListener("change", () => (speaker.voiceURI = voice.value));
  rate.addEventListener("input", () => (speaker.rate = parseFloat(rate.value) || 1));
  mode.addEventListener("change", () => onMode(mode.value as SpeechMode));
  const opts = h(
    "details",
    { class: "ts-voice-opts" },
    h("summary", { text: "Voice" }),
    h("div", {}, h("label", {}, "Voice", voice), h("label", {}, "Rate", rate)),
  );
  return { root: h("div", { class: "ts-speech", role: "group", "aria-label": "Read aloud" }, button, mode, opts), mode, button };
}

/** SpeechToggle starts and stops reading a view's model aloud with the controls it builds. */
export class SpeechToggle {
  readonly controls: SpeechControls;

  constructor(
    private speaker: Speaker,
    private model: () => RunModel,
  ) {
    this.controls = speechControls(speaker, (mode) => {
      if (speaker.active) this.start(mode);
    });
  }

  toggle(): void {
    if (!Speaker.supported()) return;
    if (this.speaker.active) {
      this.stop();
      return;
    }
    this.start((this.controls.mode?.value as SpeechMode) || "answer");
  }

  /** start reads mode, catching up with what the model already holds. */
  start(mode: SpeechMode): void {
    this.speaker.start(mode);
    this.setPressed(true);
    const m = this.model();
    if (mode === "thinking") for (const s of m.steps) if (s.done) this.speaker.step(s.index, s.src);
    if (mode === "answer" && m.ended) this.speaker.answer(m.answer, m.result);
  }

  stop(): void {
    this.speaker.stop();
    this.setPressed(false);
  }

  private setPressed(on: boolean) {
    const b = this.controls.button;
    if (!b) return;
    b.setAttribute("aria-pressed", String(on));
    setText(b, on ? "Stop reading" : "Read aloud");
  }
}
