// Guided set-up, method step: the advanced fields' greyed placeholders follow the chosen preset.
// Without this script they show the preset the page was loaded with.
"use strict";
document.addEventListener("change", (event) => {
  const radio = event.target;
  if (radio.name !== "preset" || !radio.dataset.placeholders) return;
  const values = JSON.parse(radio.dataset.placeholders);
  for (const [name, value] of Object.entries(values)) {
    const input = radio.form.querySelector(`input[name="${name}"]`);
    if (input) input.placeholder = value;
  }
});
