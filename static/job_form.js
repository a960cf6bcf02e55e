// The job form: show only the chosen objective's and method's settings, and offer only the methods
// that train the chosen objective. Without JavaScript every card and method shows, each saying what
// it is for, and the server reads only the chosen ones.
document.addEventListener("DOMContentLoaded", function () {
  var method = document.getElementById("id_method");
  var objective = document.getElementById("id_objective");
  if (!method) return;

  function toggle(card, hidden) {
    card.hidden = hidden;
    card.disabled = hidden; // not sent, and the browser does not check what it hides
  }

  function showObjective() {
    var chosen = objective ? objective.value || "sft" : "sft";
    document.querySelectorAll("[data-objective-group]").forEach(function (card) {
      toggle(card, card.dataset.objectiveGroup !== chosen);
    });
    document.querySelectorAll("[data-objective]").forEach(function (item) {
      item.hidden = item.dataset.objective !== chosen;
    });
    var first = null;
    Array.prototype.forEach.call(method.options, function (option) {
      var trains = (option.dataset.objectives || "").split(" ").indexOf(chosen) >= 0;
      option.hidden = !trains;
      option.disabled = !trains;
      if (trains && first === null) first = option;
    });
    var current = method.options[method.selectedIndex];
    if (first && (!current || current.disabled)) method.value = first.value;
    showMethod();
  }

  function showMethod() {
    document.querySelectorAll("[data-methods]").forEach(function (card) {
      toggle(card, card.dataset.methods.split(" ").indexOf(method.value) < 0);
    });
    document.querySelectorAll("[data-method]").forEach(function (item) {
      item.hidden = item.dataset.method !== method.value;
    });
  }

  method.addEventListener("change", showMethod);
  if (objective) objective.addEventListener("change", showObjective);
  showObjective();
});
