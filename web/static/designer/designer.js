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

  const idOf = (path) => "d-" + path.replace(/\./g, "-");
  // Options are values or [value, label] pairs; a value the list does not offer is kept
  // (shown with a note) so that nothing is changed unless the person changes it.
  const pairs = (options) => options.map((v) => (Array.isArray(v) ? v : [v, v]));
  function fillSelect(control, options, value, blank) {
    const list = pairs(options);
    if (blank) control.appendChild(el("option", { value: "", text: "—" }));
    const current = value == null ? "" : String(value);
    if (current && !list.some(([v]) => String(v) === current)) list.push([current, current + T.not_an_option]);
    list.forEach(([v, t]) => control.appendChild(el("option", { value: String(v), text: t })));
    control.value = current;
  }

  function input(path, value, opts) {
    const o = opts || {};
    const id = idOf(path);
    const wrap = el("div", { class: "field" + (o.wide ? " wide" : ""), "data-path": path });
    let control;
    if (o.type === "checkbox") {
      control = el("input", { id, type: "checkbox", checked: value });
      wrap.appendChild(el("label", {}, [control, document.createTextNode(" " + o.label)]));
    } else {
      wrap.appendChild(el("label", { for: id, text: o.label }));
      if (o.options) {
        control = el("select", { id });
        fillSelect(control, o.options, value, o.blank);
      } else if (o.type === "textarea") {
        control = el("textarea", { id, value: value == null ? "" : String(value) });
      } else {
        control = el("input", { id, type: o.type || "text", value: value == null ? "" : String(value) });
        if (o.list) control.setAttribute("list", o.list);
      }
      wrap.appendChild(control);
    }
    wrap.appendChild(el("p", { class: "error", id: id + "-error" }));
    control.setAttribute("aria-describedby", id + "-error");
    control.addEventListener(o.type === "checkbox" || o.options ? "change" : "input", () => {
      o.set(o.type === "checkbox" ? control.checked : control.value);
      changed(o.rerender, o.rerender ? { id } : null);
    });
    return wrap;
  }

  // Several values: a checkbox per option, and one per chosen value the options lack (kept,
  // with a note, as in fillSelect); `set` gets the checked values in the boxes' order.
  function checks(path, legend, options, chosen, set, hideLegend) {
    const values = chosen.map(String);
    const all = pairs(options).map(([v, t]) => [String(v), t]);
    values.forEach((v) => { if (!all.some(([o]) => o === v)) all.push([v, v + T.not_an_option]); });
    const id = idOf(path);
    const box = el("fieldset", { class: "checks", id, "data-path": path, "aria-describedby": id + "-error" });
    box.appendChild(el("legend", hideLegend ? { class: "visually-hidden", text: legend } : { text: legend }));
    all.forEach(([v, t], k) => {
      const cid = id + "-" + k;
      const check = el("input", { type: "checkbox", id: cid, value: v, checked: values.includes(v) });
      check.addEventListener("change", () => {
        set(Array.from(box.querySelectorAll("input:checked")).map((c) => c.value));
      });
      box.appendChild(el("label", { for: cid, class: "check" }, [check, document.createTextNode(" " + t)]));
    });
    box.appendChild(el("p", { class: "error", id: id + "-error" }));
    return box;
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
    // The process's options (hall.definitions.Options): a default is left out of the data.
    const options = data.options || {};
    const option = (key, value) => {
      data.options = Object.assign({}, data.options);
      setOrDrop(data.options, key, value);
      if (!Object.keys(data.options).length) delete data.options;
    };
    box.appendChild(input("options.applicant_approver", options.applicant_approver || "pass", {
      label: T.applicant_approver, options: choices.applicant_approvers,
      set: (v) => option("applicant_approver", v === "pass" ? undefined : v),
    }));
    box.appendChild(input("options.resubmit_from", options.resubmit_from || "returner", {
      label: T.resubmit_from, options: choices.resubmit_froms,
      set: (v) => option("resubmit_from", v === "returner" ? undefined : v),
    }));
    box.appendChild(input("options.urge_interval_minutes", options.urge_interval_minutes, {
      label: T.urge_interval, type: "number", set: (v) => option("urge_interval_minutes", num(v)),
    }));
    box.appendChild(input("options.revoke_window_hours", options.revoke_window_hours, {
      label: T.revoke_window, type: "number", set: (v) => option("revoke_window_hours", num(v)),
    }));
    // 通行码: valid during one of the form's range fields; its name defaults to 通行码.
    const ranges = (data.form || []).filter((f) => f.type === "date_range" || f.type === "datetime_range");
    const gate = () => Object.assign({}, (data.options || {}).gate_pass);
    box.appendChild(input("options.gate_pass.field", (options.gate_pass || {}).field, {
      label: T.gate_pass_field, options: ranges.map((f) => [f.key, f.label || f.key]), blank: true, rerender: true,
      set: (v) => option("gate_pass", v ? Object.assign(gate(), { field: v }) : undefined),
    }));
    if (options.gate_pass) {
      box.appendChild(input("options.gate_pass.label", options.gate_pass.label, {
        label: T.gate_pass_label, set: (v) => { const g = gate(); setOrDrop(g, "label", String(v).trim()); option("gate_pass", g); },
      }));
    }
    // 邀请办理: staff invite an off-campus applicant and become the host (a person field);
    // they fill the chosen fields, which may not be attachments or people.
    const invite = () => Object.assign({}, (data.options || {}).invite);
    const setInvite = (key, value) => { const v = invite(); setOrDrop(v, key, value); option("invite", v); };
    const people = (data.form || []).filter((f) => f.type === "person");
    box.appendChild(input("options.invite.host_field", (options.invite || {}).host_field, {
      label: T.invite_host, options: people.map((f) => [f.key, f.label || f.key]), blank: true, rerender: true,
      set: (v) => option("invite", v ? Object.assign(invite(), { host_field: v }) : undefined),
    }));
    if (options.invite) {
      const host = options.invite.host_field;
      const fillable = (data.form || []).filter((f) => f.key !== host && f.type !== "attachment" && f.type !== "person");
      box.appendChild(el("div", { class: "field wide" }, [checks("options.invite.fields", T.invite_fields,
        fillable.map((f) => [f.key, f.label || f.key]), options.invite.fields || [], (v) => { setInvite("fields", v); changed(false); })]));
      box.appendChild(input("options.invite.valid_days", options.invite.valid_days, {
        label: T.invite_days, type: "number", set: (v) => setInvite("valid_days", num(v) === 7 ? undefined : num(v)),
      }));
      box.appendChild(input("options.invite.only", options.invite.only, {
        label: T.invite_only, type: "checkbox", set: (v) => setInvite("only", v || undefined),
      }));
    }
    box.appendChild(input("options.auto_pass_applicant", options.auto_pass_applicant !== false, {
      label: T.auto_pass_applicant, type: "checkbox",
      set: (v) => option("auto_pass_applicant", v ? undefined : false),
    }));
    box.appendChild(input("options.auto_pass_repeat", options.auto_pass_repeat !== false, {
      label: T.auto_pass_repeat, type: "checkbox",
      set: (v) => option("auto_pass_repeat", v ? undefined : false),
    }));
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
      grid.appendChild(input(p + ".printed", f.printed !== false, { label: T.printed, type: "checkbox", set: (v) => setOrDrop(f, "printed", v ? undefined : false) }));
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
      ruleFields(s.approver, p + ".approver", T.approver, (v) => { s.approver = retypeRule(s.approver, v); }).forEach((n) => grid.appendChild(n));
      grid.appendChild(input(p + ".time_limit_hours", s.time_limit_hours, { label: T.time_limit, type: "number", set: (v) => setOrDrop(s, "time_limit_hours", num(v)) }));
      grid.appendChild(input(p + ".on_timeout", s.on_timeout || "remind", { label: T.on_timeout, options: choices.timeouts, set: (v) => setOrDrop(s, "on_timeout", v === "remind" ? undefined : v) }));
      item.appendChild(grid);
      item.appendChild(ccEditor(s, p));
      item.appendChild(conditionEditor(s, p));
      box.appendChild(item);
    });
  }

  // ------------------------------------------------------- approver and CC rules
  // The parameters each rule type reads (hall.definitions.ApproverRule).
  const RULE_PARAMS = {
    persons: ["userids"], role_in_applicant_dept: ["role"], dept_head: ["levels"], dept_head_chain: ["levels"], counsellor: [],
    leader_in_charge: ["department"], role_in_dept: ["role", "department"], form_person: ["field"], applicant: [],
  };
  function retypeRule(rule, type) {
    // A new type keeps the parameters it shares with the old one (a role, a department).
    const next = { type };
    (RULE_PARAMS[type] || []).forEach((k) => { if (rule && rule[k] !== undefined) next[k] = rule[k]; });
    return next;
  }
  function ruleFields(rule, path, label, setType) {
    const out = [input(path, rule.type, { label, options: choices.rule_types, rerender: true, set: setType })];
    const t = rule.type;
    if (t === "persons") out.push(input(path + ".userids", (rule.userids || []).join(","), { label: T.userids, set: (v) => setOrDrop(rule, "userids", list(v)) }));
    if (t === "role_in_applicant_dept" || t === "role_in_dept") out.push(input(path + ".role", rule.role, { label: T.role, options: choices.roles, blank: true, set: (v) => setOrDrop(rule, "role", v) }));
    if (t === "role_in_dept" || t === "leader_in_charge") out.push(input(path + ".department", rule.department, { label: T.department, list: "designer-departments", set: (v) => setOrDrop(rule, "department", v.trim()) }));
    if (t === "dept_head" || t === "dept_head_chain") out.push(input(path + ".levels", rule.levels, { label: T.levels, type: "number", set: (v) => setOrDrop(rule, "levels", num(v)) }));
    if (t === "form_person") out.push(input(path + ".field", rule.field, { label: T.person_field, options: (data.form || []).filter((f) => f.type === "person").map((f) => [f.key, f.label || f.key]), blank: true, set: (v) => setOrDrop(rule, "field", v) }));
    return out;
  }

  function ccEditor(s, p) {
    const box = el("fieldset", { class: "cc", "data-path": p + ".cc" });
    box.appendChild(el("legend", { text: T.cc }));
    box.appendChild(el("p", { class: "error" }));
    const rules = Array.isArray(s.cc) ? s.cc : [];
    if (!rules.length) box.appendChild(el("p", { class: "muted", text: T.cc_none }));
    rules.forEach((rule, k) => {
      const rp = p + ".cc." + k;
      const name = T.cc_n.replace("{n}", String(k + 1));
      const row = el("div", { class: "cc-row", role: "group", "aria-label": name, "data-path": rp });
      const fields = el("div", { class: "form-grid two" });
      if (rule && typeof rule === "object" && !Array.isArray(rule)) {
        ruleFields(rule, rp, name + T.separator + T.rule, (v) => { s.cc[k] = retypeRule(rule, v); }).forEach((n) => fields.appendChild(n));
      } else {
        fields.appendChild(el("p", { class: "muted", text: T.unrecognized + JSON.stringify(rule) }));
      }
      row.appendChild(fields);
      const rm = el("button", { type: "button", class: "weui-btn weui-btn_mini weui-btn_default", text: T.remove_cc, "aria-label": T.remove_cc + " " + (k + 1) });
      rm.addEventListener("click", () => {
        s.cc.splice(k, 1);
        if (!s.cc.length) delete s.cc;
        const next = k < rules.length ? k : k - 1;
        changed(true, next >= 0 ? { path: p + ".cc." + next } : { id: idOf(p + ".cc-add") });
      });
      row.appendChild(rm);
      row.appendChild(el("p", { class: "error" }));
      box.appendChild(row);
    });
    const add = el("button", { type: "button", id: idOf(p + ".cc-add"), class: "weui-btn weui-btn_mini weui-btn_default add-cc", text: T.add_cc });
    add.addEventListener("click", () => {
      s.cc = Array.isArray(s.cc) ? s.cc : [];
      s.cc.push({ type: "persons" });
      changed(true, { path: p + ".cc." + (s.cc.length - 1) });
    });
    box.appendChild(add);
    return box;
  }

  // --------------------------------------------------------------- conditions
  // A condition is edited as the very data the spec holds: a comparison
  // {subject, op, value} or a group {all: [...]}, {any: [...]}, {not: one}. Each node is
  // changed in place only when the person changes it, so whatever the editor does not
  // understand is shown and kept as it is. Paths follow the data (flow.1.condition.all.0
  // .value), as the server's problems do.
  const BARE = new Set(choices.bare_ops);
  const LISTS = new Set(choices.list_ops);
  const OP_LABEL = Object.fromEntries(choices.ops);
  const ALL_OPS = choices.ops.map(([v]) => v);

  function nodeKind(node) {
    if (node === null || typeof node !== "object" || Array.isArray(node)) return null;
    if (["subject", "op", "value"].some((k) => k in node)) return "compare";
    const groups = ["all", "any", "not"].filter((k) => k in node);
    if (groups.length !== 1) return null;
    if (groups[0] !== "not" && !Array.isArray(node[groups[0]])) return null;
    return groups[0];
  }

  function subjectChoices() {
    const form = [];
    (data.form || []).forEach((f) => {
      if (!f || typeof f.key !== "string") return;
      const label = f.label || f.key;
      form.push(["form." + f.key, label]);
      if (f.type === "date_range" || f.type === "datetime_range") form.push(["form." + f.key + ".days", T.days_of.replace("{label}", label)]);
      if (f.type === "multichoice") form.push(["form." + f.key + ".count", T.count_of.replace("{label}", label)]);
    });
    return { form, applicant: choices.applicant_subjects.map((a) => ["applicant." + a.value, a.label]) };
  }

  const FIELD_KINDS = { number: "number", date: "date", date_range: "presence", datetime_range: "presence", choice: "choice", multichoice: "multi", attachment: "presence" };
  function subjectInfo(subject) {
    // What the subject is (mirrors hall.designer.subject_of); null when the form has no such field.
    switch (subject) {
      case "applicant.kind": return { kind: "choice", options: choices.kinds };
      case "applicant.roles": return { kind: "multi", options: choices.roles };
      case "applicant.department": return { kind: "department", options: [], list: "designer-departments" };
      case "applicant.level": return { kind: "text", options: [], list: "designer-levels" };
      case "applicant.post": return { kind: "text", options: [] };
      default: break;
    }
    const m = /^form\.([a-z][a-z0-9_]*)(?:\.(days|count))?$/.exec(typeof subject === "string" ? subject : "");
    const f = m && (data.form || []).find((x) => x && x.key === m[1]);
    if (!f) return null;
    if (m[2] === "days") return f.type === "date_range" || f.type === "datetime_range" ? { kind: "number", options: [] } : null;
    if (m[2] === "count") return f.type === "multichoice" ? { kind: "number", options: [] } : null;
    return { kind: FIELD_KINDS[f.type] || "text", options: (f.options || []).map((o) => [o.value, o.label || o.value]) };
  }
  const opsFor = (info) => (info ? choices.ops_by_kind[info.kind] : ALL_OPS);

  function newCompare() {
    const subjects = subjectChoices();
    const subject = (subjects.form[0] || subjects.applicant[0])[0];
    return { subject, op: opsFor(subjectInfo(subject))[0] };
  }

  // A control of a condition with its (visually hidden) label and its own error line.
  function slot(path, label, control) {
    const id = idOf(path);
    control.id = id;
    control.setAttribute("aria-describedby", id + "-error");
    return el("div", { class: "field", "data-path": path }, [
      el("label", { for: id, class: "visually-hidden", text: label }),
      control,
      el("p", { class: "error", id: id + "-error" }),
    ]);
  }

  function fitsWidget(info, op, value) {
    // Can the widget for this subject and comparison show the value as it is?
    if (value === undefined || value === null) return true;
    const scalar = (v) => typeof v === "string" || (typeof v === "number" && Number.isFinite(v));
    if (LISTS.has(op)) return Array.isArray(value) ? value.every(scalar) : scalar(value);
    if (!scalar(value)) return false;
    if (info && info.kind === "number") return typeof value === "number" || (value.trim() !== "" && !Number.isNaN(Number(value)));
    if (info && info.kind === "date") return /^\d{4}-\d{2}-\d{2}$/.test(String(value));
    return true;
  }

  function typed(info, text) {
    const kind = info ? info.kind : null;
    if (kind === "number" || kind === null) return text !== "" && !Number.isNaN(Number(text)) ? Number(text) : text;
    return text;
  }

  function valueEditor(node, path, info, focusOnChange) {
    const op = node.op;
    const value = node.value;
    const set = (v, rerender) => {
      if (v === undefined || v === "") delete node.value; else node.value = v;
      changed(!!rerender, rerender ? focusOnChange : null);
    };
    if (!fitsWidget(info, op, value)) {
      const raw = el("input", { type: "text", class: "raw", value: JSON.stringify(value), title: T.raw_value });
      raw.addEventListener("input", () => set(LISTS.has(op) ? list(raw.value).map((t) => typed(info, t)) : typed(info, raw.value.trim())));
      const wrap = slot(path + ".value", T.value + " " + T.raw_value, raw);
      wrap.insertBefore(el("span", { class: "muted raw-note", text: T.raw_value }), raw.nextSibling);
      return wrap;
    }
    const options = info && (info.kind === "choice" || info.kind === "multi") ? info.options : null;
    if (options && LISTS.has(op)) {
      const chosen = Array.isArray(value) ? value : value == null ? [] : [value];
      return checks(path + ".value", T.value, options, chosen, (v) => set(v), true);
    }
    if (options) {
      const select = el("select");
      fillSelect(select, options, value, true);
      select.addEventListener("change", () => set(select.value));
      return slot(path + ".value", T.value, select);
    }
    if (LISTS.has(op)) {
      const text = el("input", { type: "text", value: (Array.isArray(value) ? value : value == null ? [] : [value]).join(",") });
      text.addEventListener("input", () => set(list(text.value).map((t) => typed(info, t))));
      return slot(path + ".value", T.values_list, text);
    }
    const kind = info ? info.kind : null;
    const control = el("input", { type: kind === "number" ? "number" : kind === "date" ? "date" : "text", value: value == null ? "" : String(value) });
    if (kind === "number") control.setAttribute("step", "any");
    if (info && info.list) control.setAttribute("list", info.list);
    control.addEventListener("input", () => set(kind === "number" ? num(control.value) : typed(info, control.value)));
    return slot(path + ".value", T.value, control);
  }

  function compareEditor(node, path, name, remove) {
    const row = el("div", { class: "cond-row", role: "group", "aria-label": name, "data-path": path });
    const info = subjectInfo(node.subject);
    const subjects = subjectChoices();
    const subj = el("select");
    const known = subjects.form.concat(subjects.applicant).some(([v]) => v === node.subject);
    [[T.form_fields, subjects.form], [T.applicant, subjects.applicant]].forEach(([label, items]) => {
      if (!items.length) return;
      const group = el("optgroup", { label });
      items.forEach(([v, t]) => group.appendChild(el("option", { value: v, text: t })));
      subj.appendChild(group);
    });
    if (!known) subj.appendChild(el("option", { value: String(node.subject == null ? "" : node.subject), text: String(node.subject == null ? "—" : node.subject) + T.unknown_subject }));
    subj.value = node.subject == null ? "" : String(node.subject);
    subj.addEventListener("change", () => {
      const before = subjectInfo(node.subject);
      const after = subjectInfo(subj.value);
      node.subject = subj.value;
      // A value of another kind of subject (a number for a choice) would never match.
      if (!before || !after || before.kind !== after.kind || JSON.stringify(before.options) !== JSON.stringify(after.options)) delete node.value;
      if (!opsFor(after).includes(node.op)) node.op = opsFor(after)[0];
      if (BARE.has(node.op)) delete node.value;
      changed(true, { id: idOf(path + ".subject") });
    });
    row.appendChild(slot(path + ".subject", T.subject, subj));

    const op = el("select");
    const offered = opsFor(info).slice();
    if (node.op != null && !offered.includes(node.op)) offered.push(node.op);
    fillSelect(op, offered.map((v) => [v, OP_LABEL[v] || String(v)]), node.op, node.op == null);
    op.addEventListener("change", () => {
      const before = node.op;
      node.op = op.value;
      if (BARE.has(node.op)) delete node.value;
      else if (LISTS.has(node.op) && !LISTS.has(before) && node.value !== undefined) node.value = Array.isArray(node.value) ? node.value : [node.value];
      else if (!LISTS.has(node.op) && LISTS.has(before) && Array.isArray(node.value)) {
        if (node.value.length) node.value = node.value[0]; else delete node.value;
      }
      changed(true, { id: idOf(path + ".op") });
    });
    row.appendChild(slot(path + ".op", T.op, op));
    if (!BARE.has(node.op)) row.appendChild(valueEditor(node, path, info, { id: idOf(path + ".value") }));
    const rm = el("button", { type: "button", class: "weui-btn weui-btn_mini weui-btn_default remove-compare", text: T.remove, "aria-label": T.remove + " " + name });
    rm.addEventListener("click", remove);
    row.appendChild(rm);
    row.appendChild(el("p", { class: "error" }));
    return row;
  }

  function unknownEditor(node, path, name, remove) {
    const row = el("div", { class: "cond-row unknown", role: "group", "aria-label": name, "data-path": path });
    row.appendChild(el("span", { class: "muted", text: T.unrecognized }));
    row.appendChild(el("code", { text: JSON.stringify(node) }));
    const rm = el("button", { type: "button", class: "weui-btn weui-btn_mini weui-btn_default", text: T.remove, "aria-label": T.remove + " " + name });
    rm.addEventListener("click", remove);
    row.appendChild(rm);
    row.appendChild(el("p", { class: "error" }));
    return row;
  }

  function retypeGroup(node, from, to) {
    // In place, so the parent keeps the same object: all ⇄ any keep the items; "not"
    // holds one item, so several become a sub-group of the old kind inside it.
    if (from === to) return;
    const items = from === "not" ? (node.not == null ? [] : [node.not]) : node[from];
    delete node[from];
    if (to === "not") node.not = items.length === 0 ? null : items.length === 1 ? items[0] : { [from]: items };
    else node[to] = items;
  }

  function groupEditor(node, path, numbers, remove, isRoot) {
    const type = nodeKind(node);
    const name = numbers.length ? T.group_n.replace("{n}", numbers.join(".")) : T.group;
    const box = el("fieldset", { class: "cond-group cond-" + type, "data-path": path });
    const typeId = idOf(path + ".group");
    // The legend names the group with its kind ("条件组 2 任一满足"); the select says what it sets.
    const select = el("select", { id: typeId, "aria-label": T.group_type });
    fillSelect(select, choices.groups, type, false);
    select.addEventListener("change", () => {
      retypeGroup(node, type, select.value);
      changed(true, { id: typeId });
    });
    box.appendChild(el("legend", {}, [el("span", { class: "group-name", text: name + " " }), select]));
    box.appendChild(el("p", { class: "error" }));
    const addId = idOf(path + ".add");
    if (type === "not") {
      if (node.not !== null && node.not !== undefined) {
        box.appendChild(nodeEditor(node.not, path + ".not", numbers.concat([1]), () => {
          node.not = null;
          if (isRoot) { removeRoot(path); return; }
          changed(true, { id: addId });
        }));
      }
    } else {
      const items = node[type];
      items.forEach((child, k) => {
        box.appendChild(nodeEditor(child, path + "." + type + "." + k, numbers.concat([k + 1]), () => {
          items.splice(k, 1);
          if (!items.length && isRoot) { removeRoot(path); return; }
          const next = k < items.length ? k : k - 1;
          changed(true, next >= 0 ? { path: path + "." + type + "." + next } : { id: addId });
        }));
      });
    }
    const actions = el("div", { class: "cond-actions" });
    const full = type === "not" && node.not !== null && node.not !== undefined;
    if (full) {
      actions.appendChild(el("p", { class: "muted", text: T.not_full }));
    } else {
      const add = el("button", { type: "button", id: addId, class: "weui-btn weui-btn_mini weui-btn_default add-compare", text: T.add_compare, "aria-label": T.add_compare + T.separator + name });
      add.addEventListener("click", () => {
        const child = newCompare();
        if (type === "not") node.not = child; else node[type].push(child);
        changed(true, { path: type === "not" ? path + ".not" : path + "." + type + "." + (node[type].length - 1) });
      });
      const sub = el("button", { type: "button", class: "weui-btn weui-btn_mini weui-btn_default add-group", text: T.add_subgroup, "aria-label": T.add_subgroup + T.separator + name });
      sub.addEventListener("click", () => {
        // the sub-group starts with one comparison, joined the other way than its parent
        const child = { [type === "all" ? "any" : "all"]: [newCompare()] };
        if (type === "not") node.not = child; else node[type].push(child);
        const at = type === "not" ? path + ".not" : path + "." + type + "." + (node[type].length - 1);
        changed(true, { path: at + "." + Object.keys(child)[0] + ".0" });
      });
      actions.appendChild(add);
      actions.appendChild(sub);
    }
    const rm = el("button", { type: "button", class: "weui-btn weui-btn_mini weui-btn_warn remove-group", text: T.remove_group, "aria-label": T.remove_group + " " + name });
    rm.addEventListener("click", remove);
    actions.appendChild(rm);
    box.appendChild(actions);
    return box;
  }

  function nodeEditor(node, path, numbers, remove, isRoot) {
    const kind = nodeKind(node);
    if (kind === "compare") return compareEditor(node, path, T.compare_n.replace("{n}", numbers.join(".") || "1"), remove);
    if (kind === null) return unknownEditor(node, path, T.compare_n.replace("{n}", numbers.join(".") || "1"), remove);
    return groupEditor(node, path, numbers, remove, !!isRoot);
  }

  function stepOf(conditionPath) {
    return data.flow[Number(conditionPath.split(".")[1])];
  }
  function removeRoot(conditionPath) {
    delete stepOf(conditionPath).condition;
    changed(true, { id: idOf(conditionPath + "-add") });
  }

  function conditionEditor(step, p) {
    const path = p + ".condition";
    const wrap = el("fieldset", { class: "condition" });
    wrap.appendChild(el("legend", { text: T.condition }));
    const c = step.condition;
    const present = c !== undefined && c !== null;
    if (present) wrap.appendChild(nodeEditor(c, path, [], () => removeRoot(path), true));
    else wrap.appendChild(el("p", { class: "muted", text: T.always }));
    if (!present || nodeKind(c) === "compare" || nodeKind(c) === null) {
      // No condition, or one comparison: adding puts what is there and the new item in a group.
      const actions = el("div", { class: "cond-actions" });
      const add = el("button", { type: "button", id: idOf(path + "-add"), class: "weui-btn weui-btn_mini weui-btn_default add-compare", text: T.add_compare });
      add.addEventListener("click", () => {
        if (!present) { step.condition = newCompare(); changed(true, { path }); return; }
        step.condition = { all: [c, newCompare()] };
        changed(true, { path: path + ".all.1" });
      });
      const group = el("button", { type: "button", class: "weui-btn weui-btn_mini weui-btn_default add-group", text: T.add_group });
      group.addEventListener("click", () => {
        if (!present) { step.condition = { all: [newCompare()] }; changed(true, { path: path + ".all.0" }); return; }
        step.condition = { all: [c, { any: [newCompare()] }] };
        changed(true, { path: path + ".all.1.any.0" });
      });
      actions.appendChild(add);
      actions.appendChild(group);
      wrap.appendChild(actions);
    }
    return wrap;
  }

  // --------------------------------------------------------------- rendering
  function datalist(id, options) {
    if (document.getElementById(id)) return;
    root.appendChild(el("datalist", { id }, options.map(([v, t]) => el("option", { value: v, label: t }))));
  }

  function renderAll() {
    datalist("designer-departments", choices.departments.map(([code, name]) => [code, name]));
    datalist("designer-levels", choices.levels.map((v) => [v, v]));
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
    root.querySelectorAll("p.error").forEach((n) => { n.textContent = ""; });
    root.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
    root.querySelectorAll(".item.has-problem").forEach((n) => n.classList.remove("has-problem"));
    state.problems.forEach((pr) => {
      const line = el("li", { text: pr.where + T.separator + pr.message });
      problems.appendChild(line);
      // Next to the field: the closest element whose path is the problem's or a parent's.
      let path = pr.path;
      let target = null;
      while (path && !target) {
        target = root.querySelector('[data-path="' + CSS.escape(path) + '"]');
        if (!target) path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
      }
      if (!target) return;
      // The problem in the list leads to its place (a link to the control it is about).
      const place = target.matches("input, select, textarea, button") ? target : target.querySelector("input, select, textarea, button");
      if (place && place.id) {
        const go = el("a", { href: "#" + place.id, text: line.textContent });
        go.addEventListener("click", (e) => { e.preventDefault(); place.focus(); });
        line.replaceChildren(go);
      }
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
  // `focus` says where the keyboard goes after the page is drawn again: a control's id, or
  // the path of an item (its first control: a comparison's subject, a group's type).
  function changed(rerender, focus) {
    if (rerender) {
      renderAll();
      if (focus) {
        let target = focus.id ? document.getElementById(focus.id) : null;
        if (!target && focus.path) {
          const item = root.querySelector('[data-path="' + CSS.escape(focus.path) + '"]');
          target = item && item.querySelector("select, input, textarea, button");
        }
        if (target) target.focus();
      }
    }
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
