/* The strength hint under a new-password field. It applies the rules the
   server states in the hint element's data attributes (the same figures the
   server checks: minimum length, byte limit, no username, no site name) and
   a rough guessability check; the server's own verdict still decides, with
   its list of common passwords and its estimate. Messages come in the page's
   language in data-say-* attributes (${count} filled in here). No inline
   script: the page's CSP forbids it. */
(function () {
  "use strict";

  function normalize(text) {
    return text.normalize("NFKC").toLowerCase().normalize("NFKC");
  }

  function repetitive(chars) {
    if (new Set(chars).size <= 3) {
      return true;
    }
    var step = chars[1].codePointAt(0) - chars[0].codePointAt(0);
    if (Math.abs(step) !== 1) {
      return false;
    }
    for (var i = 2; i < chars.length; i += 1) {
      if (chars[i].codePointAt(0) - chars[i - 1].codePointAt(0) !== step) {
        return false;
      }
    }
    return true;
  }

  function verdict(hint, password, username) {
    var data = hint.dataset;
    var chars = Array.from(password);
    var minLength = Number(data.minLength);
    var folded = normalize(password);
    if (chars.length < minLength) {
      var missing = minLength - chars.length;
      if (missing === 1 && data.sayShortOne) {
        return ["weak", data.sayShortOne];
      }
      return ["weak", data.sayShort.replace("${count}", String(missing))];
    }
    if (new TextEncoder().encode(password).length > Number(data.maxBytes)) {
      return ["weak", data.sayLong.replace("${count}", data.maxBytes)];
    }
    if (username && folded.indexOf(normalize(username)) !== -1) {
      return ["weak", data.sayUsername];
    }
    var words = (data.siteWords || "").split(" ").filter(Boolean);
    if (words.some(function (word) { return folded.indexOf(word) !== -1; })) {
      return ["weak", data.saySite];
    }
    if (repetitive(chars)) {
      return ["weak", data.sayRepetitive];
    }
    if (chars.length >= minLength + 8) {
      return ["strong", data.sayStrong];
    }
    return ["fair", data.sayFair];
  }

  function attach(hint) {
    var field = document.getElementById(hint.dataset.passwordField);
    var nameField = hint.dataset.usernameField
      ? document.getElementById(hint.dataset.usernameField) : null;
    if (!field) {
      return;
    }
    function update() {
      var username = nameField ? nameField.value : (hint.dataset.username || "");
      if (!field.value) {
        hint.textContent = "";
        hint.removeAttribute("data-strength");
        return;
      }
      var result = verdict(hint, field.value, username);
      hint.setAttribute("data-strength", result[0]);
      hint.textContent = result[1];
    }
    field.addEventListener("input", update);
    if (nameField) {
      nameField.addEventListener("input", update);
    }
  }

  document.querySelectorAll(".password-hint[data-password-field]").forEach(attach);
}());
