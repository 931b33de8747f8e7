/* Sensedesk: a file over the portal's limit is refused in the browser, before it is sent.
 *
 * Every file input marked data-max-bytes (templates/portal/_uploads.html)
 * is checked when files are chosen: a file over the limit empties the input
 * and says so beside it, in the words the page carries in data-too-large.
 * The server checks again, and without this script a refused page comes back
 * with everything typed in it.
 */
(function () {
  "use strict";

  function check(input) {
    var limit = Number(input.dataset.maxBytes);
    var message = input.parentNode.querySelector(".upload-error[data-for='" + input.id + "']");
    var tooLarge = Array.prototype.filter.call(input.files || [], function (file) {
      return limit > 0 && file.size > limit;
    });
    if (!tooLarge.length) {
      if (message) {
        message.remove();
      }
      input.removeAttribute("aria-invalid");
      return;
    }
    if (!message) {
      message = document.createElement("p");
      message.className = "field-error upload-error";
      message.dataset.for = input.id;
      message.id = input.id + "-too-large";
      message.setAttribute("role", "alert");
      input.parentNode.insertBefore(message, input);
    }
    message.textContent = tooLarge.map(function (file) {
      return input.dataset.tooLarge.replace("{name}", file.name);
    }).join(" ");
    input.setAttribute("aria-invalid", "true");
    input.value = "";
  }

  document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
    input.addEventListener("change", function () { check(input); });
  });
})();
