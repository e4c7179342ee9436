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

  // The client form: the authentication methods show only for
  // confidential clients (public ones use none), and the public key
  // fields only with private_key_jwt. Without this script every field
  // shows, and the server ignores what does not apply.
  document.querySelectorAll("form[data-client-form]").forEach(function (form) {
    var methods = form.querySelector("[data-auth-methods]");
    var keys = form.querySelector("[data-auth-keys]");
    if (!methods) return;
    var publicNote = form.querySelector("[data-auth-public]");
    function checked(name) {
      var el = form.querySelector('input[name="' + name + '"]:checked');
      return el ? el.value : "";
    }
    function update() {
      var isPublic = checked("client_type") === "public";
      methods.hidden = isPublic;
      if (publicNote) publicNote.hidden = !isPublic;
      if (keys) {
        // Keep fields with an error in view whatever the method.
        var hasError = keys.querySelector("[aria-invalid=true]") !== null;
        keys.hidden = !hasError && checked("token_endpoint_auth_method") !== "private_key_jwt";
      }
    }
    form.addEventListener("change", function (e) {
      if (e.target.name === "client_type" || e.target.name === "token_endpoint_auth_method") update();
    });
    update();
    // The Delegation section (may_act) matters only with the token
    // exchange grant: it follows the checkbox, and stays when it holds
    // something. Without this script the server shows it when the grant
    // is saved.
    var delegation = form.querySelector("[data-delegation]");
    var exchange = form.querySelector('input[name="grant_types"][value="urn:ietf:params:oauth:grant-type:token-exchange"]');
    if (delegation && exchange) {
      var mayAct = delegation.querySelector("textarea");
      var showDelegation = function () {
        delegation.hidden = !exchange.checked && !(mayAct && mayAct.value.trim() !== "") && !delegation.querySelector("[aria-invalid=true]");
      };
      exchange.addEventListener("change", showDelegation);
      showDelegation();
    }
  });
})();
