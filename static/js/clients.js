// Copy buttons and select-on-focus for the client pages. Progressive
// enhancement: without this script the buttons stay hidden and the values
// can be selected and copied by hand.
(function () {
  "use strict";

  var status = document.createElement("span");
  status.className = "sr-only";
  status.setAttribute("aria-live", "polite");
  document.body.appendChild(status);

  function textOf(el) {
    return el.tagName === "INPUT" || el.tagName === "TEXTAREA" ? el.value : el.textContent;
  }

  function fallbackCopy(text) {
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.className = "sr-only";
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    document.body.removeChild(ta);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        return fallbackCopy(text);
      });
    }
    return fallbackCopy(text);
  }

  function flash(button, message) {
    var label = button.querySelector("[data-copy-label]");
    var icon = button.querySelector("i");
    if (label) {
      if (!label.dataset.original) label.dataset.original = label.textContent;
      label.textContent = message === "Copied" ? "Copied" : "Copy failed";
    }
    if (icon) {
      icon.classList.remove("fa-regular", "fa-copy");
      icon.classList.add("fa-solid", message === "Copied" ? "fa-check" : "fa-xmark");
    }
    status.textContent = message;
    clearTimeout(button._copyTimer);
    button._copyTimer = setTimeout(function () {
      if (label) label.textContent = label.dataset.original;
      if (icon) {
        icon.classList.remove("fa-solid", "fa-check", "fa-xmark");
        icon.classList.add("fa-regular", "fa-copy");
      }
      status.textContent = "";
    }, 2000);
  }

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) return;
    button.classList.remove("hidden");
    button.addEventListener("click", function () {
      copy(textOf(target)).then(
        function () { flash(button, "Copied"); },
        function () {
          flash(button, "Copy failed: select the text and copy it by hand");
          if (target.select) target.select();
        }
      );
    });
  });

  document.querySelectorAll("input[data-select-all]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });
})();
