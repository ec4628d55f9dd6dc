// The short note form a reader opens with a step's ☆ to highlight it.

import { h } from "./dom.js";

/** markForm returns the form; onNote gets the (trimmed, capped) note on submit. Escape or Cancel removes it. */
export function markForm(step: number, onNote: (note: string) => void): { form: HTMLElement; input: HTMLInputElement } {
  const input = h("input", { type: "text", maxlength: "140", class: "ts-input", placeholder: "Why is this step key? (optional)", "aria-label": `Note for step ${step}` });
  const form = h(
    "form",
    { class: "ts-mark-form" },
    input,
    h("button", { type: "submit", class: "ts-btn ts-small" }, "Highlight"),
    h("button", { type: "button", class: "ts-btn ts-small", "data-close": "" }, "Cancel"),
  );
  form.querySelector("[data-close]")!.addEventListener("click", () => form.remove());
  form.addEventListener("keydown", (e) => {
    if ((e as KeyboardEvent).key === "Escape") form.remove();
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const note = input.value.trim().slice(0, 140);
    form.remove();
    onNote(note);
  });
  return { form, input };
}
