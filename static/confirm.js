// Forms that do something hard to undo (cancelling a job) ask first: <form data-confirm="…">.
// A page script rather than an inline onsubmit, which the Content-Security-Policy forbids. Bound
// on the document, so forms that htmx swaps in later ask too.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
