/* The hall's own script: form rules (the same as the server's, from data-rules), the
 * person picker, attachment uploads, batch selection, confirmations. No framework. */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function fmt(text, params) {
    return String(text).replace(/\{(\w+)\}/g, function (m, k) {
      return Object.prototype.hasOwnProperty.call(params || {}, k) ? params[k] : m;
    });
  }

  /* ------------------------------------------------------------ validation */

  var ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var ID_CHECK = "10X98765432";

  function idcardOk(value) {
    if (!/^\d{17}[\dX]$/.test(value)) return false;
    var y = +value.slice(6, 10), m = +value.slice(10, 12), d = +value.slice(12, 14);
    var born = new Date(Date.UTC(y, m - 1, d));
    if (y < 1900 || born.getUTCFullYear() !== y || born.getUTCMonth() !== m - 1 || born.getUTCDate() !== d) return false;
    var total = 0;
    for (var i = 0; i < 17; i++) total += (+value[i]) * ID_WEIGHTS[i];
    return ID_CHECK[total % 11] === value[17];
  }

  function daysBetween(a, b) {
    return Math.round((Date.UTC(b.slice(0, 4), b.slice(5, 7) - 1, b.slice(8, 10)) -
      Date.UTC(a.slice(0, 4), a.slice(5, 7) - 1, a.slice(8, 10))) / 86400000) + 1;
  }

  function valuesOf(field, rules) {
    var key = rules.key;
    var q = function (sel) { return field.querySelectorAll(sel); };
    switch (rules.type) {
      case "date_range":
      case "datetime_range":
        return [field.querySelector('[name="' + key + '.start"]').value.trim(),
                field.querySelector('[name="' + key + '.end"]').value.trim()];
      case "multichoice":
        return Array.prototype.filter.call(q('input[type="checkbox"]'), function (c) { return c.checked; })
          .map(function (c) { return c.value; });
      case "choice": {
        var sel = field.querySelector("select");
        if (sel) return sel.value;
        var r = field.querySelector('input[type="radio"]:checked');
        return r ? r.value : "";
      }
      case "attachment":
        return Array.prototype.map.call(q('input[type="hidden"][name="' + key + '"]'), function (i) { return i.value; });
      case "person":
        return field.querySelector('input[type="hidden"][name="' + key + '"]').value.trim();
      default: {
        var input = field.querySelector('[name="' + key + '"]');
        return input ? input.value.trim() : "";
      }
    }
  }

  function isEmpty(v) {
    if (Array.isArray(v)) return v.every(function (x) { return !x; });
    return !v;
  }

  /* The same rules as hall/forms.py, in the same order; messages come from the server. */
  function checkField(field) {
    var rules = JSON.parse(field.getAttribute("data-rules"));
    var m = rules.messages;
    var v = valuesOf(field, rules);
    if (isEmpty(v)) return rules.required && !field.closest("form").hasAttribute("data-partial") ? m.required : "";
    switch (rules.type) {
      case "text":
      case "textarea":
        if (v.length > rules.max_length) return m.max_length;
        if (rules.min_length != null && v.length < rules.min_length) return m.min_length;
        if (rules.pattern) {
          var re;
          try { re = new RegExp("^(?:" + rules.pattern + ")$", "u"); } catch (e) { re = null; }
          if (re && !re.test(v)) return m.pattern;
        }
        return "";
      case "number": {
        if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) return m.number;
        var n = Number(v);
        if (!isFinite(n) || Math.abs(n) > 1e15) return m.number;
        if (rules.integer && n !== Math.trunc(n)) return m.integer;
        if (rules.min != null && n < rules.min) return m.min;
        if (rules.max != null && n > rules.max) return m.max;
        return "";
      }
      case "date":
        return /^\d{4}-\d{2}-\d{2}$/.test(v) ? "" : m.date;
      case "date_range":
      case "datetime_range": {
        if (!v[0] || !v[1]) return m.both;
        if (rules.type === "date_range") {
          if (v[1] < v[0]) return m.order;
        } else if (v[1] <= v[0]) return m.order;
        if (rules.max_days != null && daysBetween(v[0].slice(0, 10), v[1].slice(0, 10)) > rules.max_days) return m.max_days;
        return "";
      }
      case "multichoice":
        if (rules.min != null && v.length < rules.min) return m.min;
        if (rules.max != null && v.length > rules.max) return m.max;
        return "";
      case "mobile":
        return /^1[3-9]\d{9}$/.test(v) ? "" : m.mobile;
      case "idcard":
        return idcardOk(v.toUpperCase()) ? "" : m.idcard;
      case "attachment":
        return v.length > rules.max_files ? m.max_files : "";
      default:
        return "";
    }
  }

  function showError(field, message) {
    var box = field.querySelector(".error");
    if (box) box.textContent = message;
    field.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(function (el) {
      if (el.closest(".picker-results")) return;
      if (message) el.setAttribute("aria-invalid", "true"); else el.removeAttribute("aria-invalid");
    });
  }

  function validateForm(form) {
    var first = null;
    form.querySelectorAll(".field[data-rules]").forEach(function (field) {
      var message = checkField(field);
      showError(field, message);
      if (message && !first) first = field;
    });
    return first;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      return;
    }
    if (!form.hasAttribute("data-validate")) return;
    var submitter = event.submitter;
    if (submitter && submitter.getAttribute("name") === "action" && submitter.value === "draft") {
      form.setAttribute("data-partial", "");
    } else {
      form.removeAttribute("data-partial");
    }
    var first = validateForm(form);
    if (first) {
      event.preventDefault();
      var summary = form.querySelector(".form-summary");
      if (summary) summary.textContent = summary.getAttribute("data-text");
      var focusable = first.querySelector("input:not([type=hidden]), select, textarea");
      if (focusable) focusable.focus();
    }
  });

  /* Re-check a field that shows a problem while the person corrects it (on input, so the
   * message is gone before the blur of a click could move the layout under the pointer). */
  function recheck(event) {
    var field = event.target.closest && event.target.closest(".field[data-rules]");
    if (field && field.querySelector(".error").textContent) showError(field, checkField(field));
  }
  document.addEventListener("input", recheck);
  document.addEventListener("change", recheck);

  /* ------------------------------------------------------------ person picker */

  document.addEventListener("click", function (event) {
    var choice = event.target.closest && event.target.closest("[data-pick-userid]");
    if (!choice) return;
    event.preventDefault();
    var picker = choice.closest(".picker");
    picker.querySelector('input[type="hidden"]').value = choice.getAttribute("data-pick-userid");
    picker.querySelector(".picked").textContent = choice.getAttribute("data-pick-label");
    picker.querySelector(".picker-results").innerHTML = "";
    var search = picker.querySelector('input[type="search"]');
    search.value = "";
    search.focus();
  });

  /* ------------------------------------------------------------ attachments */

  function addFile(list, key, id, name, removeLabel) {
    var li = document.createElement("li");
    var hidden = document.createElement("input");
    hidden.type = "hidden"; hidden.name = key; hidden.value = id;
    var span = document.createElement("span");
    span.textContent = name;
    var remove = document.createElement("button");
    remove.type = "button"; remove.className = "btn btn-small"; remove.textContent = removeLabel;
    remove.setAttribute("data-remove-file", "");
    li.appendChild(hidden); li.appendChild(span); li.appendChild(remove);
    list.appendChild(li);
  }

  document.addEventListener("click", function (event) {
    var remove = event.target.closest && event.target.closest("[data-remove-file]");
    if (remove) remove.closest("li").remove();
  });

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches('input[type="file"][data-upload]')) return;
    var field = input.closest(".field");
    var rules = JSON.parse(field.getAttribute("data-rules"));
    var list = field.querySelector(".files");
    var files = Array.prototype.slice.call(input.files);
    var status = field.querySelector(".upload-status");
    var fail = function (message) { showError(field, message); input.value = ""; };
    if (list.children.length + files.length > rules.max_files) return fail(rules.messages.max_files);
    for (var i = 0; i < files.length; i++) {
      if (files[i].size > rules.max_size_mb * 1024 * 1024) return fail(rules.messages.size);
      var ext = files[i].name.indexOf(".") >= 0 ? files[i].name.split(".").pop().toLowerCase() : "";
      if (rules.accept.length && rules.accept.indexOf(ext) < 0) return fail(rules.messages.accept);
    }
    showError(field, "");
    var chain = Promise.resolve();
    files.forEach(function (file) {
      chain = chain.then(function () {
        status.textContent = status.getAttribute("data-busy");
        var body = new FormData();
        body.append("process", input.getAttribute("data-process"));
        body.append("field", rules.key);
        body.append("file", file);
        return fetch(input.getAttribute("data-upload"), {
          method: "POST", body: body, credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
        }).then(function (response) {
          return response.json().then(function (data) {
            if (!response.ok) throw new Error(data.error || response.statusText);
            addFile(list, rules.key, data.id, data.filename, input.getAttribute("data-remove"));
          });
        });
      });
    });
    chain.catch(function (err) { showError(field, err.message); })
      .then(function () { status.textContent = ""; input.value = ""; });
  });

  /* ------------------------------------------------------------ batch selection */

  document.addEventListener("change", function (event) {
    var all = event.target;
    if (!all.matches || !all.matches("[data-select-all]")) return;
    document.querySelectorAll('input[name="task_id"]').forEach(function (box) { box.checked = all.checked; });
  });

  window.hallForms = { checkField: checkField, idcardOk: idcardOk, fmt: fmt };
})();
