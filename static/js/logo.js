// A logo that fails to load (img[data-logo]) is hidden, so the initials or
// icon stacked underneath it in the same box show instead of a broken image.
// Without JavaScript the browser's broken-image mark shows; the name is in
// the heading either way (the <img> has alt="").
(function () {
  "use strict";
  function hide(img) {
    img.hidden = true;
  }
  // Images that fail after this script ran (lazy-loaded ones).
  document.addEventListener("error", function (e) {
    var t = e.target;
    if (t instanceof HTMLImageElement && t.hasAttribute("data-logo")) hide(t);
  }, true);
  // Images that failed before it ran (the script is deferred).
  document.querySelectorAll("img[data-logo]").forEach(function (img) {
    if (img.complete && img.naturalWidth === 0) hide(img);
  });
})();
