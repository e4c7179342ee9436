// Scope form: keeps the consent-screen preview in step with the form as
// an admin types. Progressive enhancement only: the server renders the
// same preview, and the page works without this file. Text is set with
// textContent, never as HTML.
(function () {
  "use strict";

  var preview = document.getElementById("scope-preview");
  if (!preview) {
    return;
  }
  var user = preview.getAttribute("data-user") || "ada";
  var client = preview.getAttribute("data-client") || "Acme Notes";
  var fallbackIcon = "fa-solid fa-shield-halved";

  var nameInput = document.getElementById("name");
  var descInput = document.getElementById("description");
  var iconInput = document.getElementById("icon");
  var idInput = document.getElementById("scope_id");

  var textOut = document.getElementById("scope-preview-text");
  var idOut = document.getElementById("scope-preview-id");
  var iconOuts = [
    document.getElementById("scope-preview-icon"),
    document.getElementById("scope-icon-preview"),
  ].filter(Boolean);

  // Same rules as the server (handlers/scopes.go): a style and an icon
  // name, or an https:// image address.
  var faToken = /^fa-[a-z0-9]+(?:-[a-z0-9]+)*$/;
  var faStyles = { "fa-solid": true, "fa-regular": true, "fa-brands": true };

  function iconFor(value) {
    var v = (value || "").trim();
    if (v === "") {
      return { kind: "font", value: fallbackIcon };
    }
    if (/^https:\/\/[^\s"'<>\\]+$/i.test(v)) {
      return { kind: "image", value: v };
    }
    var parts = v.toLowerCase().split(/\s+/);
    if (parts.length > 2) {
      return null;
    }
    var style = "fa-solid";
    var icon = "";
    for (var i = 0; i < parts.length; i++) {
      if (!faToken.test(parts[i])) {
        return null;
      }
      if (faStyles[parts[i]]) {
        style = parts[i];
      } else if (icon === "") {
        icon = parts[i];
      } else {
        return null;
      }
    }
    if (icon === "") {
      return null;
    }
    return { kind: "font", value: style + " " + icon };
  }

  function renderIcon(target, icon) {
    while (target.firstChild) {
      target.removeChild(target.firstChild);
    }
    if (icon.kind === "image") {
      var img = document.createElement("img");
      img.src = icon.value;
      img.alt = "";
      img.setAttribute("aria-hidden", "true");
      img.setAttribute("referrerpolicy", "no-referrer");
      img.className = "inline-block h-[1em] w-[1em] rounded-sm object-contain align-[-0.125em]";
      target.appendChild(img);
    } else {
      var el = document.createElement("i");
      el.className = icon.value;
      el.setAttribute("aria-hidden", "true");
      target.appendChild(el);
    }
  }

  function fill(text) {
    return text.split("{user}").join(user).split("{client_name}").join(client);
  }

  function update() {
    if (textOut) {
      var desc = descInput ? descInput.value.trim() : "";
      var name = nameInput ? nameInput.value.trim() : "";
      textOut.textContent = desc !== "" ? fill(desc) : name !== "" ? name : "Display name";
    }
    if (idOut && idInput) {
      idOut.textContent = idInput.value.trim() || "scope.id";
    }
    if (iconInput) {
      // An icon that is not valid (yet) keeps the last good one.
      var icon = iconFor(iconInput.value);
      if (icon) {
        iconOuts.forEach(function (t) {
          renderIcon(t, icon);
        });
      }
    }
  }

  [nameInput, descInput, iconInput, idInput].forEach(function (el) {
    if (el) {
      el.addEventListener("input", update);
    }
  });
})();
