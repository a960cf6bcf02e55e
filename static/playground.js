// Playground: stream the answers as they are written. Without this script the form posts
// normally and the page shows the finished answers.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("playground-form");
  if (!form || !window.fetch || !window.TextDecoder) return;
  const status = document.getElementById("playground-status");
  const button = document.getElementById("generate-button");

  function reset() {
    for (const side of ["model", "base"]) {
      const text = document.getElementById(`answer-${side}`);
      const meta = document.getElementById(`answer-${side}-meta`);
      if (text) { text.textContent = ""; }
      if (meta) { meta.textContent = ""; }
    }
  }

  function show(event) {
    const text = document.getElementById(`answer-${event.side}`);
    const meta = document.getElementById(`answer-${event.side}-meta`);
    if (event.text && text) text.textContent += event.text;
    if (event.done && meta) {
      const empty = text && !text.textContent.trim();
      meta.textContent = `${event.seconds} s` + (empty ? " · no text: the model ended its answer at once" : "");
    }
    if (event.error && meta) meta.textContent = event.error;
  }

  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    const body = new FormData(form);
    const compare = form.querySelector("input[name=compare]");
    if (compare && !compare.checked) body.delete("compare");
    reset();
    button.disabled = true;
    status.textContent = "Generating…";
    document.getElementById("answers").setAttribute("aria-busy", "true");
    try {
      const response = await fetch(form.dataset.streamUrl, { method: "POST", body, credentials: "same-origin" });
      if (!response.ok) { form.submit(); return; }  // let the server show the errors next to the fields
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        const lines = buffered.split("\n");
        buffered = lines.pop();
        for (const line of lines) if (line.trim()) show(JSON.parse(line));
      }
      status.textContent = "Done.";
    } catch (error) {
      status.textContent = `The answer stopped: ${error}`;
    } finally {
      button.disabled = false;
      document.getElementById("answers").setAttribute("aria-busy", "false");
    }
  });
});
