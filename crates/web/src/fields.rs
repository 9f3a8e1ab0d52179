//! Questions a payer answers in a form (a project's registration, a fee item's 缴费时收集的信息):
//! one view of a field, with what was typed or kept, rendered by `portal/_fields.html`.

use std::collections::BTreeMap;

use bursar_domain::project::Field;

/// One field of a form, with its value.
pub struct FieldView {
    /// The input's name and id (`f_<name>`, or `f_<receivable>_<name>` when a page has several
    /// forms' worth of fields).
    pub input: String,
    pub label: String,
    pub kind: &'static str,
    pub required: bool,
    /// Whether the browser should insist (off where the form holds several items' fields and
    /// only the chosen items' answers are needed; the engine checks those).
    pub enforce: bool,
    pub options: Vec<String>,
    pub value: String,
}

/// The views of `fields` with `values`, their inputs named `{prefix}{field name}`.
pub fn field_views(fields: &[Field], values: &BTreeMap<String, String>, prefix: &str) -> Vec<FieldView> {
    field_views_with(fields, values, prefix, true)
}

/// As [`field_views`], with the browser's own check of required fields off.
pub fn field_views_unenforced(fields: &[Field], values: &BTreeMap<String, String>, prefix: &str) -> Vec<FieldView> {
    field_views_with(fields, values, prefix, false)
}

fn field_views_with(
    fields: &[Field],
    values: &BTreeMap<String, String>,
    prefix: &str,
    enforce: bool,
) -> Vec<FieldView> {
    fields
        .iter()
        .map(|f| FieldView {
            input: format!("{prefix}{}", f.name),
            label: f.label.clone(),
            kind: f.kind.as_str(),
            required: f.required,
            enforce: enforce && f.required,
            options: f.options.clone(),
            value: values.get(&f.name).cloned().unwrap_or_default(),
        })
        .collect()
}

/// The answers a posted form holds for fields named `{prefix}{name}`.
pub fn answers_with_prefix(pairs: &[(String, String)], prefix: &str) -> BTreeMap<String, String> {
    pairs.iter().filter_map(|(k, v)| k.strip_prefix(prefix).map(|n| (n.to_string(), v.clone()))).collect()
}
