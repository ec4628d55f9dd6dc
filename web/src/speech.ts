// Read aloud with the Web Speech API. Utterances are queued one per step (or
// one for the answer); stop() cancels everything at once.

import { speakable } from "./util.js";

export type SpeechMode = "answer" | "thinking";

export class Speaker {
  mode: SpeechMode = "answer";
  rate = 1;
  voiceURI = "";
  active = false;
  private spokenSteps = new Set<number>();
  private spokeAnswer = false;

  static supported(): boolean {
    return typeof window !== "undefined" && "speechSynthesis" in window && typeof SpeechSynthesisUtterance !== "undefined";
  }

  voices(): SpeechSynthesisVoice[] {
    try {
      return window.speechSynthesis.getVoices() || [];
    } catch {
      return [];
    }
  }

  start(mode: SpeechMode): void {
    this.stop();
    this.mode = mode;
    this.active = true;
    this.spokenSteps.clear();
    this.spokeAnswer = false;
  }

  stop(): void {
    this.active = false;
    if (Speaker.supported()) window.speechSynthesis.cancel();
  }

  /** step speaks a finished reasoning step (thinking mode only, once each). */
  step(index: number, src: string): void {
    if (!this.active || this.mode !== "thinking" || this.spokenSteps.has(index)) return;
    this.spokenSteps.add(index);
    const text = speakable(src);
    if (text) this.say(`Step ${index}. ${text}`);
  }

  /** answer speaks the final answer (answer mode only, once). */
  answer(src: string, result?: string): void {
    if (!this.active || this.mode !== "answer" || this.spokeAnswer) return;
    this.spokeAnswer = true;
    let text = speakable(src);
    if (!text && result) text = `The answer is ${speakable("$" + result + "$")}`;
    if (text) this.say(text);
  }

  private say(text: string) {
    if (!Speaker.supported()) return;
    const u = new SpeechSynthesisUtterance(text);
    u.rate = this.rate;
    const v = this.voices().find((x) => x.voiceURI === this.voiceURI);
    if (v) {
      u.voice = v;
      u.lang = v.lang;
    }
    window.speechSynthesis.speak(u);
  }
}
