// The signed-out page: once every front-channel logout iframe has loaded
// (or after a few seconds, whichever comes first), go on to the app that
// asked for the sign-out, if one did. Without JavaScript the page offers
// a "Continue" link instead.
(function () {
  "use strict";
  var box = document.getElementById("signed-out");
  if (!box) return;
  var target = box.getAttribute("data-continue");
  if (!target) return;
  var frames = document.querySelectorAll("iframe[data-frontchannel]");
  var pending = frames.length;
  var gone = false;
  function go() {
    if (gone) return;
    gone = true;
    window.location.assign(target);
  }
  if (pending === 0) {
    go();
    return;
  }
  frames.forEach(function (f) {
    f.addEventListener("load", function () {
      pending--;
      if (pending <= 0) go();
    });
    f.addEventListener("error", function () {
      pending--;
      if (pending <= 0) go();
    });
  });
  window.setTimeout(go, 3000);
})();
