// The operator console's queue refreshes itself every 5 s (hx-trigger="every 5s"), except while an
// operator is typing in one of its fields (a priority): the refresh would throw the typing away.
// This check lives here rather than in a trigger filter ("every 5s [...]"), because htmx evaluates
// filters as JavaScript at run time, which the Content-Security-Policy (no eval) rightly forbids.
document.addEventListener("htmx:beforeRequest", (event) => {
  const polled = event.detail.elt;
  if (polled.id !== "console-queue") return;
  const typing = document.activeElement;
  if (typing && polled.contains(typing) && ["INPUT", "SELECT", "TEXTAREA"].includes(typing.tagName)) {
    event.preventDefault();
  }
});
