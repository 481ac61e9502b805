/* The process designer: edits the draft definition in memory, saves it to the server on
   every change (debounced) and shows the server's problems, change list and preview.
   User data is only ever put into the page as text (textContent / value), never as HTML;
   the preview HTML comes from the server's escaped template. */
(function () {
  "use strict";
  const root = document.getElementById("designer");
  if (!root) return;
  const data = JSON.parse(document.getElementById("draft-data").textContent);
  const choices = JSON.parse(document.getElementById("draft-choices").textContent);
  const initial = JSON.parse(document.getElementById("draft-state").textContent);
  // Every label comes translated from the page (web/views/designer.py JS_LABELS).
  const T = JSON.parse(document.getElementById("designer-labels").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const status = document.getElementById("save-status");
  let revision = initial.revision;
  let timer = null;
  let inflight = false;
  let again = false;

  const LABELS = {
    name: T.name, category: T.category, audience: T.audience, visible_to: T.visible_to,
    description: T.description, basis: T.basis, materials: T.materials, promised_days: T.promised_days,
    visits: T.visits, contact: T.contact, immediate: T.immediate,
  };
  // A material marked optional ends with the suffix, in either language.
  const OPTIONAL = Array.from(new Set([T.optional_suffix, "（可选）"]));
  const optionalName = (s) => { const o = OPTIONAL.find((x) => s.endsWith(x)); return o ? s.slice(0, -o.length).trim() : null; };

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v;
      else if (k === "value") node.value = v;
      else if (k === "checked") node.checked = !!v;
      else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => node.appendChild(c));
    return node;
  }

  function input(path, value, opts) {
    const o = opts || {};
    const id = "d-" + path.replace(/\./g, "-");
    const wrap = el("div", { class: "field" + (o.wide ? " wide" : ""), "data-path": path });
    let control;
    if (o.type === "checkbox") {
      control = el("input", { id, type: "checkbox", checked: value });
      wrap.appendChild(el("label", {}, [control, document.createTextNode(" " + o.label)]));
    } else {
      wrap.appendChild(el("label", { for: id, text: o.label }));
      if (o.options) {
        control = el("select", { id });
        if (o.blank) control.appendChild(el("option", { value: "", text: "—" }));
        o.options.forEach((v) => control.appendChild(el("option", { value: v, text: v })));
        control.value = value == null ? "" : String(value);
      } else if (o.type === "textarea") {
        control = el("textarea", { id, value: value == null ? "" : String(value) });
      } else {
        control = el("input", { id, type: o.type || "text", value: value == null ? "" : String(value) });
      }
      wrap.appendChild(control);
    }
    wrap.appendChild(el("p", { class: "error", id: id + "-error" }));
    control.setAttribute("aria-describedby", id + "-error");
    control.addEventListener(o.type === "checkbox" || o.options ? "change" : "input", () => {
      o.set(o.type === "checkbox" ? control.checked : control.value);
      changed(o.rerender);
    });
    return wrap;
  }

  const num = (v) => (v === "" || v == null ? undefined : Number(v));
  const list = (v) => String(v).split(/[,，\s]+/).map((s) => s.trim()).filter(Boolean);
  function setOrDrop(obj, key, value) {
    if (value === undefined || value === "" || value === null || (Array.isArray(value) && !value.length) || Number.isNaN(value)) delete obj[key];
    else obj[key] = value;
  }

  // ---------------------------------------------------------------- catalogue
  function renderCatalogue() {
    const box = document.getElementById("catalogue");
    box.replaceChildren();
    const text = (key, opts) => box.appendChild(input(key, data[key], Object.assign({ label: LABELS[key], set: (v) => { setOrDrop(data, key, v); if (key === "name") document.getElementById("title-name").textContent = v; } }, opts)));
    text("name");
    text("category");
    box.appendChild(input("audience", (data.audience || []).join(","), { label: LABELS.audience + "（student, staff, offcampus）", set: (v) => setOrDrop(data, "audience", list(v)) }));
    box.appendChild(input("visible_to", (data.visible_to || []).join(","), { label: LABELS.visible_to, set: (v) => setOrDrop(data, "visible_to", list(v)) }));
    box.appendChild(input("promised_days", data.promised_days, { label: LABELS.promised_days, type: "number", set: (v) => setOrDrop(data, "promised_days", num(v)) }));
    box.appendChild(input("visits", data.visits, { label: LABELS.visits, type: "number", set: (v) => setOrDrop(data, "visits", num(v)) }));
    text("contact");
    box.appendChild(input("immediate", data.immediate, { label: LABELS.immediate, type: "checkbox", set: (v) => setOrDrop(data, "immediate", v || undefined) }));
    text("description", { type: "textarea", wide: true });
    text("basis", { type: "textarea", wide: true });
    const materials = (data.materials || []).map((m) => m.name + (m.required === false ? T.optional_suffix : "")).join("\n");
    box.appendChild(input("materials", materials, {
      label: LABELS.materials, type: "textarea", wide: true,
      set: (v) => setOrDrop(data, "materials", String(v).split("\n").map((s) => s.trim()).filter(Boolean).map((s) => (optionalName(s) !== null ? { name: optionalName(s), required: false } : { name: s }))),
    }));
  }

  // ------------------------------------------------------------------- fields
  function renderFields() {
    const box = document.getElementById("fields");
    box.replaceChildren();
    (data.form || []).forEach((f, i) => {
      const p = "form." + i;
      const item = el("li", { class: "item", "data-path": p, "data-index": String(i) });
      const head = el("div", { class: "item-head" }, [
        el("span", { class: "handle", title: T.drag, "aria-hidden": "true", text: "⠿" }),
        el("strong", { text: f.label || f.key }),
        el("code", { text: f.key }),
        el("span", { class: "tag", text: f.type }),
      ]);
      const del = el("button", { type: "button", class: "weui-btn weui-btn_mini weui-btn_warn del", text: T.remove, "aria-label": T.remove_field + " " + (f.label || f.key) });
      del.addEventListener("click", () => { data.form.splice(i, 1); changed(true); });
      head.appendChild(del);
      item.appendChild(head);
      const grid = el("div", { class: "form-grid two" });
      grid.appendChild(input(p + ".label", f.label, { label: T.label, set: (v) => { f.label = v; head.children[1].textContent = v || f.key; } }));
      grid.appendChild(input(p + ".key", f.key, { label: T.field_key, set: (v) => { f.key = v; } }));
      grid.appendChild(input(p + ".type", f.type, { label: T.type, options: choices.field_types, rerender: true, set: (v) => { f.type = v; if (v === "choice" || v === "multichoice") { f.options = f.options || [{ value: "a", label: T.first_option }]; } else delete f.options; } }));
      grid.appendChild(input(p + ".required", f.required, { label: T.required, type: "checkbox", set: (v) => setOrDrop(f, "required", v || undefined) }));
      grid.appendChild(input(p + ".key_field", f.key_field, { label: T.key_field, type: "checkbox", set: (v) => setOrDrop(f, "key_field", v || undefined) }));
      grid.appendChild(input(p + ".prefill", f.prefill, { label: T.prefill, options: choices.prefill, blank: true, set: (v) => setOrDrop(f, "prefill", v || undefined) }));
      grid.appendChild(input(p + ".help", f.help, { label: T.help, set: (v) => setOrDrop(f, "help", v) }));
      if (f.type === "choice" || f.type === "multichoice") {
        const text = (f.options || []).map((o) => o.value + "=" + o.label).join("\n");
        grid.appendChild(input(p + ".options", text, { label: T.options, type: "textarea", wide: true, set: (v) => {
          f.options = String(v).split("\n").map((s) => s.trim()).filter(Boolean).map((s) => { const k = s.indexOf("="); return k > 0 ? { value: s.slice(0, k).trim(), label: s.slice(k + 1).trim() } : { value: s, label: s }; });
        } }));
      }
      if (["text", "textarea"].includes(f.type)) {
        grid.appendChild(input(p + ".max_length", f.max_length, { label: T.max_length, type: "number", set: (v) => setOrDrop(f, "max_length", num(v)) }));
        grid.appendChild(input(p + ".pattern", f.pattern, { label: T.pattern, set: (v) => setOrDrop(f, "pattern", v) }));
      }
      if (f.type === "number") {
        grid.appendChild(input(p + ".min", f.min, { label: T.min, type: "number", set: (v) => setOrDrop(f, "min", num(v)) }));
        grid.appendChild(input(p + ".max", f.max, { label: T.max, type: "number", set: (v) => setOrDrop(f, "max", num(v)) }));
      }
      if (f.type === "date_range" || f.type === "datetime_range") {
        grid.appendChild(input(p + ".max_days", f.max_days, { label: T.max_days, type: "number", set: (v) => setOrDrop(f, "max_days", num(v)) }));
      }
      item.appendChild(grid);
      box.appendChild(item);
    });
  }

  // -------------------------------------------------------------------- steps
  function conditionRows(step) {
    // The builder edits a flat list joined by all / any; anything deeper stays as it is.
    const c = step.condition;
    if (!c) return { join: "all", rows: [] };
    if (c.subject) return { join: "all", rows: [c] };
    if (c.all && c.all.every((x) => x.subject)) return { join: "all", rows: c.all };
    if (c.any && c.any.every((x) => x.subject)) return { join: "any", rows: c.any };
    return null;
  }
  function writeCondition(step, join, rows) {
    const clean = rows.filter((r) => r.subject);
    if (!clean.length) delete step.condition;
    else if (clean.length === 1) step.condition = clean[0];
    else step.condition = join === "any" ? { any: clean } : { all: clean };
  }
  function parseValue(op, v) {
    if (op === "empty" || op === "not_empty") return undefined;
    if (op === "in" || op === "not_in") return list(v);
    return v !== "" && !Number.isNaN(Number(v)) ? Number(v) : v;
  }

  function renderSteps() {
    const box = document.getElementById("steps");
    box.replaceChildren();
    (data.flow || []).forEach((s, i) => {
      const p = "flow." + i;
      s.approver = s.approver || { type: "dept_head" };
      const item = el("li", { class: "item", "data-path": p, "data-index": String(i) });
      const head = el("div", { class: "item-head" }, [
        el("span", { class: "handle", title: T.drag, "aria-hidden": "true", text: "⠿" }),
        el("strong", { text: s.name || s.key }),
        el("code", { text: s.key }),
      ]);
      const del = el("button", { type: "button", class: "weui-btn weui-btn_mini weui-btn_warn del", text: T.remove, "aria-label": T.remove_step + " " + (s.name || s.key) });
      del.addEventListener("click", () => { data.flow.splice(i, 1); changed(true); });
      head.appendChild(del);
      item.appendChild(head);
      const grid = el("div", { class: "form-grid two" });
      grid.appendChild(input(p + ".name", s.name, { label: T.step_name, set: (v) => { s.name = v; head.children[1].textContent = v || s.key; } }));
      grid.appendChild(input(p + ".key", s.key, { label: T.step_key, set: (v) => { s.key = v; } }));
      grid.appendChild(input(p + ".kind", s.kind || "approval", { label: T.type, options: choices.step_kinds, set: (v) => setOrDrop(s, "kind", v === "approval" ? undefined : v) }));
      grid.appendChild(input(p + ".mode", s.mode || "any", { label: T.mode, options: choices.modes, set: (v) => setOrDrop(s, "mode", v === "any" ? undefined : v) }));
      const a = s.approver;
      grid.appendChild(input(p + ".approver", a.type, { label: T.approver, options: choices.rule_types, rerender: true, set: (v) => { s.approver = { type: v }; } }));
      if (a.type === "persons") grid.appendChild(input(p + ".approver.userids", (a.userids || []).join(","), { label: T.userids, set: (v) => setOrDrop(a, "userids", list(v)) }));
      if (a.type === "role_in_applicant_dept" || a.type === "role_in_dept") grid.appendChild(input(p + ".approver.role", a.role, { label: T.role, options: choices.roles, blank: true, set: (v) => setOrDrop(a, "role", v) }));
      if (a.type === "role_in_dept" || a.type === "leader_in_charge") grid.appendChild(input(p + ".approver.department", a.department, { label: T.department, set: (v) => setOrDrop(a, "department", v) }));
      if (a.type === "dept_head") grid.appendChild(input(p + ".approver.levels", a.levels, { label: T.levels, type: "number", set: (v) => setOrDrop(a, "levels", num(v)) }));
      if (a.type === "form_person") grid.appendChild(input(p + ".approver.field", a.field, { label: T.person_field, options: (data.form || []).filter((f) => f.type === "person").map((f) => f.key), blank: true, set: (v) => setOrDrop(a, "field", v) }));
      grid.appendChild(input(p + ".time_limit_hours", s.time_limit_hours, { label: T.time_limit, type: "number", set: (v) => setOrDrop(s, "time_limit_hours", num(v)) }));
      const ccPeople = (s.cc || []).filter((r) => r.type === "persons").flatMap((r) => r.userids || []);
      grid.appendChild(input(p + ".cc", ccPeople.join(","), { label: T.cc, set: (v) => {
        const others = (s.cc || []).filter((r) => r.type !== "persons");
        const ids = list(v);
        setOrDrop(s, "cc", ids.length ? others.concat([{ type: "persons", userids: ids }]) : others);
      } }));
      item.appendChild(grid);
      item.appendChild(conditionBuilder(s, p));
      box.appendChild(item);
    });
  }

  function conditionBuilder(step, p) {
    const wrap = el("fieldset", { class: "condition", "data-path": p + ".condition" });
    wrap.appendChild(el("legend", { text: T.condition }));
    const parsed = conditionRows(step);
    if (parsed === null) {
      wrap.appendChild(el("p", { class: "muted", text: T.complex_condition + JSON.stringify(step.condition) }));
      return wrap;
    }
    const state = { join: parsed.join, rows: parsed.rows.map((r) => Object.assign({}, r)) };
    const join = el("select", { "aria-label": T.join });
    [["all", T.join_all], ["any", T.join_any]].forEach(([v, t]) => join.appendChild(el("option", { value: v, text: t })));
    join.value = state.join;
    join.addEventListener("change", () => { state.join = join.value; writeCondition(step, state.join, state.rows); changed(false); });
    wrap.appendChild(join);
    const subjects = (data.form || []).flatMap((f) => {
      const base = ["form." + f.key];
      if (f.type === "date_range" || f.type === "datetime_range") base.push("form." + f.key + ".days");
      if (f.type === "multichoice") base.push("form." + f.key + ".count");
      return base;
    }).concat(["applicant.kind", "applicant.post", "applicant.department", "applicant.level", "applicant.roles"]);
    state.rows.forEach((row, k) => {
      const line = el("div", { class: "cond-row" });
      const subj = el("select", { "aria-label": T.subject });
      subjects.forEach((v) => subj.appendChild(el("option", { value: v, text: v })));
      subj.value = row.subject;
      const op = el("select", { "aria-label": T.op });
      choices.ops.forEach((v) => op.appendChild(el("option", { value: v, text: v })));
      op.value = row.op;
      const val = el("input", { "aria-label": T.value, value: Array.isArray(row.value) ? row.value.join(",") : (row.value == null ? "" : String(row.value)) });
      const rm = el("button", { type: "button", class: "weui-btn weui-btn_mini weui-btn_default", text: T.remove_condition_short, "aria-label": T.remove_condition });
      const update = () => {
        state.rows[k] = { subject: subj.value, op: op.value };
        const v = parseValue(op.value, val.value);
        if (v !== undefined) state.rows[k].value = v;
        writeCondition(step, state.join, state.rows);
        changed(false);
      };
      subj.addEventListener("change", update);
      op.addEventListener("change", update);
      val.addEventListener("input", update);
      rm.addEventListener("click", () => { state.rows.splice(k, 1); writeCondition(step, state.join, state.rows); changed(true); });
      [subj, op, val, rm].forEach((n) => line.appendChild(n));
      wrap.appendChild(line);
    });
    const add = el("button", { type: "button", class: "weui-btn weui-btn_mini weui-btn_default add-cond", text: T.add_condition });
    add.addEventListener("click", () => {
      state.rows.push({ subject: subjects[0], op: ">", value: 1 });
      writeCondition(step, state.join, state.rows);
      changed(true);
    });
    wrap.appendChild(add);
    return wrap;
  }

  // --------------------------------------------------------------- rendering
  function renderAll() {
    renderCatalogue();
    renderFields();
    renderSteps();
    sortable("fields", "form");
    sortable("steps", "flow");
  }

  function sortable(id, key) {
    if (!window.Sortable) return;
    window.Sortable.create(document.getElementById(id), {
      handle: ".handle",
      animation: 120,
      onEnd: (evt) => {
        if (evt.oldIndex === evt.newIndex) return;
        const moved = data[key].splice(evt.oldIndex, 1)[0];
        data[key].splice(evt.newIndex, 0, moved);
        changed(true);
      },
    });
  }

  function showState(state) {
    const problems = document.getElementById("problems");
    problems.replaceChildren();
    root.querySelectorAll(".field .error").forEach((n) => { n.textContent = ""; });
    root.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
    root.querySelectorAll(".item.has-problem").forEach((n) => n.classList.remove("has-problem"));
    state.problems.forEach((pr) => {
      problems.appendChild(el("li", { text: pr.where + T.separator + pr.message }));
      // Next to the field: the closest element whose path is the problem's or a parent's.
      let path = pr.path;
      let target = null;
      while (path && !target) {
        target = root.querySelector('[data-path="' + CSS.escape(path) + '"]');
        if (!target) path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
      }
      if (!target) return;
      const err = target.querySelector(":scope > .error");
      if (err) {
        err.textContent = (err.textContent ? err.textContent + T.list_separator : "") + pr.message;
        const control = target.querySelector("input, select, textarea");
        if (control) control.setAttribute("aria-invalid", "true");
      } else {
        target.classList.add("has-problem");
        let note = target.querySelector(":scope > .item-error");
        if (!note) { note = el("p", { class: "error item-error" }); target.insertBefore(note, target.children[1] || null); }
        note.textContent = pr.message;
      }
    });
    document.getElementById("valid-ok").hidden = state.problems.length > 0;
    document.getElementById("publish").disabled = state.problems.length > 0;
    const changes = document.getElementById("changes");
    changes.replaceChildren();
    state.changes.forEach((t) => changes.appendChild(el("li", { text: t })));
    if (!state.changes.length) changes.appendChild(el("li", { class: "muted", text: T.no_changes }));
    document.getElementById("publish-revision").value = String(revision);
  }

  // ------------------------------------------------------------------- saving
  function changed(rerender) {
    if (rerender) renderAll();
    status.textContent = root.dataset.msgSaving;
    clearTimeout(timer);
    timer = setTimeout(save, 400);
  }

  async function save() {
    if (inflight) { again = true; return; }
    inflight = true;
    try {
      const res = await fetch(root.dataset.saveUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify({ data, revision }),
        credentials: "same-origin",
      });
      if (res.status === 409) { status.textContent = root.dataset.msgConflict; return; }
      if (!res.ok) { status.textContent = root.dataset.msgFailed; return; }
      const state = await res.json();
      revision = state.revision;
      document.getElementById("preview").innerHTML = state.preview; // server-escaped template
      showState(state);
      status.textContent = root.dataset.msgSaved;
      root.dataset.revision = String(revision);
    } catch (e) {
      status.textContent = root.dataset.msgFailed;
    } finally {
      inflight = false;
      if (again) { again = false; save(); }
    }
  }

  document.getElementById("add-field").addEventListener("click", () => {
    data.form = data.form || [];
    let n = data.form.length + 1;
    while (data.form.some((f) => f.key === "field" + n)) n += 1;
    data.form.push({ key: "field" + n, label: T.new_field + n, type: "text" });
    changed(true);
  });
  document.getElementById("add-step").addEventListener("click", () => {
    data.flow = data.flow || [];
    let n = data.flow.length + 1;
    while (data.flow.some((s) => s.key === "step" + n)) n += 1;
    data.flow.push({ key: "step" + n, name: T.new_step + n, approver: { type: "dept_head" } });
    changed(true);
  });
  window.addEventListener("beforeunload", (e) => { if (inflight || timer && status.textContent === root.dataset.msgSaving) e.preventDefault(); });

  renderAll();
  showState(initial);
  root.dataset.revision = String(revision);
  root.dataset.ready = "1";
})();
