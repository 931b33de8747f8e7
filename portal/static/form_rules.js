/* Sensedesk: an intake form's fields shown, hidden and required as the page is filled in.
 *
 * The form carries its page's rules in data-rules (portal/views/forms.py
 * script_rules): for each field its show_when and required_when conditions,
 * and the answers of earlier pages they may read. This evaluates them as
 * maild/forms/answers.py does (equals, in, answered, not, and, or; a field
 * reads only the shown fields above it), toggles each field's hidden
 * attribute and its "(optional)" mark, and keeps the hidden "shown" input
 * listing what is on screen. The server decides again on every page sent;
 * without this script it sends a page back when its answers showed more.
 */
(function () {
  "use strict";

  var NUMBER = /^[+-]?\d{1,15}(?:[.,]\d{1,10})?$/;

  function answered(value) {
    return value !== undefined && value !== null && value !== "" &&
      !(Array.isArray(value) && value.length === 0);
  }

  // Strict: a yes/no answer never equals the number 1, as in answers._same.
  function same(answer, wanted) {
    return answer === wanted;
  }

  function evaluate(condition, answers) {
    var op = condition.op;
    if (op === "and") {
      return condition.terms.every(function (t) { return evaluate(t, answers); });
    }
    if (op === "or") {
      return condition.terms.some(function (t) { return evaluate(t, answers); });
    }
    if (op === "not") {
      return !evaluate(condition.terms[0], answers);
    }
    var answer = answers[condition.field];
    if (op === "answered") {
      return answered(answer) === condition.value;
    }
    if (!answered(answer)) {
      return false;
    }
    var wanted = op === "equals" ? [condition.value] : condition.value;
    var given = Array.isArray(answer) ? answer : [answer];
    return given.some(function (item) {
      return wanted.some(function (w) { return same(item, w); });
    });
  }

  // A field's answer as the server would parse it (maild/forms/answers.py _parse).
  function valueOf(form, field) {
    var inputs = form.querySelectorAll("[name='" + field.id + "']");
    var text;
    if (field.type === "multichoice") {
      return Array.prototype.filter.call(inputs, function (i) { return i.checked; })
        .map(function (i) { return i.value; });
    }
    if (field.type === "yesno") {
      var checked = Array.prototype.find.call(inputs, function (i) { return i.checked; });
      return checked ? checked.value === "yes" : undefined;
    }
    if (field.type === "choice" && inputs.length && inputs[0].type === "radio") {
      var chosen = Array.prototype.find.call(inputs, function (i) { return i.checked; });
      return chosen ? chosen.value : undefined;
    }
    if (field.type === "file") {
      var kept = form.querySelectorAll("[name='remove_file'][value^='" + field.id + "/']:not(:checked)");
      var chosenFiles = inputs.length && inputs[0].files ? inputs[0].files.length : 0;
      return kept.length + chosenFiles ? ["file"] : undefined;
    }
    if (!inputs.length) {
      return undefined;
    }
    text = inputs[0].value.trim();
    if (!text) {
      return undefined;
    }
    if (field.type === "number") {
      text = text.replace(/[ \u00a0]/g, "");
      return NUMBER.test(text) ? Number(text.replace(",", ".")) : undefined;
    }
    if (field.type === "email" || field.type === "person") {
      return text.toLowerCase();
    }
    if (field.type === "text" || field.type === "phone") {
      return text.split(/\s+/).join(" ");
    }
    return text;
  }

  function update(form, rules) {
    var answers = Object.assign({}, rules.earlier);
    var shown = [];
    rules.fields.forEach(function (field) {
      var box = form.querySelector("[data-field='" + field.id + "']");
      var visible = !field.show || evaluate(field.show, answers);
      if (box) {
        box.hidden = !visible;
        var optional = box.querySelector(".optional");
        if (optional) {
          optional.hidden = Boolean(field.require && evaluate(field.require, answers));
        }
      }
      if (!visible) {
        return;
      }
      shown.push(field.id);
      if (field.type !== "help") {
        var value = valueOf(form, field);
        if (answered(value)) {
          answers[field.id] = value;
        }
      }
    });
    form.querySelector("input[name='shown']").value = shown.join(" ");
  }

  document.querySelectorAll("form[data-rules]").forEach(function (form) {
    var rules = JSON.parse(form.dataset.rules);
    var refresh = function () { update(form, rules); };
    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
    refresh();
  });
})();
