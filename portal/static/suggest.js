/* Sensedesk: FAQ articles suggested while a new request is written (portal/views/faq.py).
 *
 * A form marked data-suggest="<field id>" (with data-department, data-request
 * and, for an intake form, data-form) gets a list of matching published
 * articles under that field, fetched from /faq/suggest as the person types.
 * The page works without this script: the similar-questions step does the
 * same job before the form. With the script that step is not needed: links
 * marked data-direct go straight to the form, and a first visit to the step
 * (its "skip" link marked data-forward) moves on to the form at once.
 * Everything shown is set as text, never as HTML.
 */
(function () {
  "use strict";

  // Wait for a pause in typing, and for enough of a word to search by.
  var PAUSE_MS = 300;
  var MIN_CHARS = 3;

  function setUp(form) {
    var field = document.getElementById(form.dataset.suggest);
    if (!field) {
      return;
    }
    var box = document.createElement("div");
    box.className = "suggestions";
    // A polite live region that exists before it is filled, so screen
    // readers announce the heading when suggestions arrive.
    var status = document.createElement("p");
    status.className = "suggestions-status";
    status.setAttribute("role", "status");
    var list = document.createElement("ul");
    list.className = "articles";
    box.appendChild(status);
    box.appendChild(list);
    field.insertAdjacentElement("afterend", box);

    var timer = null;
    var pending = null;
    // Words carried in from the similar-questions step were searched there already.
    var last = field.value.trim();

    function show(data) {
      status.textContent = data.heading || "";
      list.replaceChildren();
      (data.articles || []).forEach(function (article) {
        var item = document.createElement("li");
        var link = document.createElement("a");
        link.href = article.url;
        link.textContent = article.title;
        item.appendChild(link);
        if (article.summary) {
          var text = document.createElement("span");
          text.className = "article-text";
          text.textContent = article.summary;
          item.appendChild(text);
        }
        list.appendChild(item);
      });
    }

    function ask() {
      var text = field.value.trim();
      if (text === last) {
        return;
      }
      last = text;
      if (pending) {
        pending.abort();
        pending = null;
      }
      if (text.length < MIN_CHARS) {
        show({});
        return;
      }
      pending = new AbortController();
      var params = new URLSearchParams({q: text, department: form.dataset.department,
                                        request: form.dataset.request});
      if (form.dataset.form) {
        params.set("form", form.dataset.form);
      }
      fetch("/faq/suggest?" + params.toString(), {signal: pending.signal, credentials: "same-origin",
                                                  headers: {Accept: "application/json"}})
        .then(function (response) { return response.ok ? response.json() : {}; })
        .then(show)
        .catch(function () {
          // Aborted by newer typing, or offline: the form works without suggestions.
        });
    }

    field.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, PAUSE_MS);
    });
  }

  var forward = document.querySelector("a[data-forward]");
  if (forward) {
    // replace(): Back from the form returns to the catalogue, not to this step.
    window.location.replace(forward.href);
    return;
  }
  document.querySelectorAll("a[data-direct]").forEach(function (link) {
    link.setAttribute("href", link.dataset.direct);
  });
  document.querySelectorAll("form[data-suggest]").forEach(setUp);
}());
