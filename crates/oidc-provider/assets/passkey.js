// Segl passkeys: runs the WebAuthn ceremony for the form marked data-passkey="get" (login) or
// "create" (adding a passkey). The options come from the page's JSON block; the answer goes
// back to the server in the hidden "credential" field. Served from /assets (CSP script-src
// 'self'); the pages have no inline script.
(function () {
  "use strict";

  function fromBase64Url(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toBase64Url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function requestOptions(options) {
    var publicKey = options.publicKey;
    publicKey.challenge = fromBase64Url(publicKey.challenge);
    (publicKey.allowCredentials || []).forEach(function (credential) {
      credential.id = fromBase64Url(credential.id);
    });
    return { publicKey: publicKey };
  }

  function creationOptions(options) {
    var publicKey = options.publicKey;
    publicKey.challenge = fromBase64Url(publicKey.challenge);
    publicKey.user.id = fromBase64Url(publicKey.user.id);
    (publicKey.excludeCredentials || []).forEach(function (credential) {
      credential.id = fromBase64Url(credential.id);
    });
    return { publicKey: publicKey };
  }

  function assertion(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64Url(credential.rawId),
      type: credential.type,
      extensions: {},
      response: {
        authenticatorData: toBase64Url(response.authenticatorData),
        clientDataJSON: toBase64Url(response.clientDataJSON),
        signature: toBase64Url(response.signature),
        userHandle: response.userHandle ? toBase64Url(response.userHandle) : null
      }
    };
  }

  function attestation(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64Url(credential.rawId),
      type: credential.type,
      extensions: {},
      response: {
        attestationObject: toBase64Url(response.attestationObject),
        clientDataJSON: toBase64Url(response.clientDataJSON),
        transports: response.getTransports ? response.getTransports() : []
      }
    };
  }

  var form = document.querySelector("form[data-passkey]");
  var block = document.getElementById("passkey-options");
  if (!form || !block) { return; }
  var field = form.querySelector("input[name=credential]");
  var ceremony = form.getAttribute("data-passkey");
  var sending = false;

  form.addEventListener("submit", function (event) {
    if (sending) { return; }
    event.preventDefault();
    var finish = function (value) {
      field.value = value;
      sending = true;
      form.submit();
    };
    if (!window.PublicKeyCredential || !navigator.credentials) {
      finish("");
      return;
    }
    var options = JSON.parse(block.textContent);
    var call = ceremony === "create"
      ? navigator.credentials.create(creationOptions(options)).then(attestation)
      : navigator.credentials.get(requestOptions(options)).then(assertion);
    call.then(function (answer) { finish(JSON.stringify(answer)); },
              function () { finish(""); });
  });
}());
