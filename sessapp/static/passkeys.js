/*
 * Passkeys in sessapp's pages: add one (/mfa), sign in with one (/login), or
 * give one as the second factor or sudo proof. No build step, no inline
 * script (the Content-Security-Policy allows scripts from this site only).
 *
 * The server speaks WebAuthn Level 3's JSON shapes; where the browser has
 * PublicKeyCredential.parseCreationOptionsFromJSON / parseRequestOptionsFromJSON
 * and credential.toJSON() they are used, else the base64url fields are
 * converted by hand.
 *
 * Buttons say what to do with data attributes:
 *   data-passkey="register" | "sign-in" | "verify"
 *   data-options-url, data-url   where to get options and send the answer
 *   data-csrf                    the page's CSRF token (sent as X-CSRF-Token)
 *   data-name-input              (register) id of the input holding the name
 *   data-status                  id of the element that shows progress/errors
 */
(function () {
  "use strict";

  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i += 1) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: toBuffer(item.id) });
    });
  }

  function creationOptions(json) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      user: Object.assign({}, json.user, { id: toBuffer(json.user.id) }),
      excludeCredentials: descriptors(json.excludeCredentials)
    });
  }

  function requestOptions(json) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      allowCredentials: descriptors(json.allowCredentials)
    });
  }

  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") {
      try { return credential.toJSON(); } catch (ignored) { /* by hand below */ }
    }
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      json.response.attestationObject = toText(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toText(response.authenticatorData);
      json.response.signature = toText(response.signature);
      json.response.userHandle = toText(response.userHandle);
    }
    return json;
  }

  function post(button, url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": button.dataset.csrf
      },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = {};
        try { data = text ? JSON.parse(text) : {}; } catch (ignored) { data = {}; }
        if (response.status === 403 && data.sudo) {
          // Sudo mode ran out: prove it is you again, then come back here.
          window.location.assign(data.sudo + "?next=" +
                                 encodeURIComponent(window.location.pathname));
          return new Promise(function () { /* the page is leaving */ });
        }
        if (!response.ok) {
          if (data.location) { window.location.assign(data.location); }
          // message is the refusal in the page's language; error its English.
          throw new Error(data.message || data.error || button.dataset.failed ||
                          ("The server answered " + response.status + "."));
        }
        return data;
      });
    });
  }

  function say(button, message, isError) {
    var status = document.getElementById(button.dataset.status || "");
    if (!status) { return; }
    status.textContent = message;
    status.classList.toggle("error", Boolean(isError));
  }

  function register(button) {
    var input = document.getElementById(button.dataset.nameInput || "");
    var name = input ? input.value.trim() : "";
    if (!name) {
      say(button, button.dataset.nameMissing || "Give the passkey a name.", true);
      if (input) { input.focus(); }
      return Promise.resolve();
    }
    return post(button, button.dataset.optionsUrl, {})
      .then(function (json) {
        return navigator.credentials.create({ publicKey: creationOptions(json) });
      })
      .then(function (credential) {
        return post(button, button.dataset.url,
                    { name: name, credential: credentialJSON(credential) });
      })
      .then(function () { window.location.reload(); });
  }

  function assert(button) {
    return post(button, button.dataset.optionsUrl, {})
      .then(function (json) {
        return navigator.credentials.get({ publicKey: requestOptions(json) });
      })
      .then(function (credential) {
        return post(button, button.dataset.url, credentialJSON(credential));
      })
      .then(function (data) { window.location.assign(data.location || "/"); });
  }

  function start(button) {
    var work = button.dataset.passkey === "register" ? register : assert;
    button.disabled = true;
    say(button, button.dataset.working || "Waiting for your passkey…", false);
    work(button)
      .catch(function (error) {
        var cancelled = error && error.name === "NotAllowedError";
        say(button, cancelled ? (button.dataset.cancelled || "No passkey was used.")
                              : (error && error.message) || String(error), true);
      })
      .then(function () { button.disabled = false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("[data-passkey]");
    var supported = typeof window.PublicKeyCredential === "function";
    Array.prototype.forEach.call(buttons, function (button) {
      var section = button.closest("[data-passkey-section]");
      if (!supported) {
        if (section) { section.hidden = true; }
        return;
      }
      if (section) { section.hidden = false; }
      button.addEventListener("click", function () { start(button); });
    });
  });
}());
