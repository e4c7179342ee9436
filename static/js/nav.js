// Progressive enhancement of the mobile menu (a <details> disclosure that
// works without JavaScript): Escape closes it and returns focus to its
// button, and it closes when focus or a click moves elsewhere.
(function () {
  "use strict";
  function menus() {
    return document.querySelectorAll("details[data-menu]");
  }
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    menus().forEach(function (d) {
      if (d.open) {
        d.open = false;
        var s = d.querySelector("summary");
        if (s) s.focus();
      }
    });
  });
  function closeOutside(target) {
    menus().forEach(function (d) {
      if (d.open && !d.contains(target)) d.open = false;
    });
  }
  document.addEventListener("focusin", function (e) { closeOutside(e.target); });
  document.addEventListener("click", function (e) { closeOutside(e.target); });
})();
