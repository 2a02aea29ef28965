// The dashboard's only script (CSP allows no inline script): the print button of the report page, and the
// admin page's folding parts: on a phone all fold but the one the address names, and a link to a part
// opens it. Without the script every part stays open.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".print-button").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
  var folds = document.querySelectorAll("details.fold");
  if (!folds.length) return;
  function openAsked() {
    var id = decodeURIComponent(location.hash.slice(1));
    var asked = id && document.getElementById(id);
    if (asked && asked.tagName === "DETAILS") {
      asked.open = true;
      asked.scrollIntoView();
    }
  }
  if (window.matchMedia("(max-width: 640px)").matches) {
    folds.forEach(function (d) { d.open = false; });
  }
  openAsked();
  window.addEventListener("hashchange", openAsked);
});
