// The job form: show only the chosen method's settings. Without JavaScript every card shows,
// each saying which methods it is for.
document.addEventListener("DOMContentLoaded", function () {
  var select = document.getElementById("id_method");
  if (!select) return;
  function show() {
    document.querySelectorAll("[data-methods]").forEach(function (card) {
      card.hidden = card.dataset.methods.split(" ").indexOf(select.value) < 0;
      card.disabled = card.hidden; // not sent, and the browser does not check what it hides
    });
    document.querySelectorAll("[data-method]").forEach(function (item) {
      item.hidden = item.dataset.method !== select.value;
    });
  }
  select.addEventListener("change", show);
  show();
});
