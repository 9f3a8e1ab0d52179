//! The part of a fee item's forms that says whom it is for (收费对象), the receipt it needs
//! (票据种类) and what payers read before paying (缴费须知): one form, read one way, for the
//! application and for a change; and the words the pages show for it.

use std::collections::HashMap;

use bursar_domain::audience::{parse_list, Audience, Profile, ReceiptKind};
use bursar_domain::fee::FeeType;
use bursar_domain::payer::PayerKind;

/// The profile fields as typed (or as the item has them).
#[derive(Clone, Debug, Default)]
pub struct ProfileForm {
    pub kinds: Vec<String>,
    pub departments: Vec<String>,
    pub majors: String,
    pub grades: String,
    pub classes: String,
    /// A receipt-kind code; empty: the usual one for the fee type.
    pub receipt_kind: String,
    pub notice: String,
    /// Field lines (name|label|kind|required|options), one per line.
    pub fields: String,
}

/// What the form offers.
pub struct ProfileChoices {
    pub kinds: Vec<(&'static str, &'static str)>,
    pub departments: Vec<(String, String)>,
    pub receipt_kinds: Vec<(&'static str, &'static str)>,
}

impl ProfileChoices {
    pub fn new(departments: Vec<(String, String)>) -> ProfileChoices {
        ProfileChoices {
            kinds: PayerKind::ALL.iter().map(|k| (k.as_str(), k.label_zh())).collect(),
            departments,
            receipt_kinds: ReceiptKind::ALL.iter().map(|k| (k.as_str(), k.label_zh())).collect(),
        }
    }
}

impl ProfileForm {
    /// Reads the fields from a posted form (checkboxes come as repeated keys).
    pub fn from_pairs(f: &[(String, String)]) -> ProfileForm {
        let all = |k: &str| f.iter().filter(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).collect::<Vec<_>>();
        let one = |k: &str| all(k).into_iter().next().unwrap_or_default();
        ProfileForm {
            kinds: all("audience_kind"),
            departments: all("audience_department"),
            majors: one("audience_majors"),
            grades: one("audience_grades"),
            classes: one("audience_classes"),
            receipt_kind: one("receipt_kind"),
            notice: one("payer_notice"),
            fields: one("fields"),
        }
    }

    /// The form filled with what an item has now.
    pub fn of(p: &Profile) -> ProfileForm {
        let a = &p.audience;
        ProfileForm {
            kinds: a.kinds.iter().map(|k| k.as_str().to_string()).collect(),
            departments: a.departments.clone(),
            majors: a.majors.join("、"),
            grades: a.grades.join("、"),
            classes: a.classes.join("、"),
            receipt_kind: p.receipt_kind.as_str().to_string(),
            notice: p.notice.clone(),
            fields: bursar_domain::project::format_field_lines(&p.fields),
        }
    }

    /// The profile the form describes, for an item of `fee_type`.
    pub fn to_profile(&self, fee_type: FeeType) -> Result<Profile, String> {
        let mut kinds = Vec::new();
        for k in &self.kinds {
            kinds.push(PayerKind::parse(k).ok_or("请从列表中选择缴费人类别")?);
        }
        let receipt_kind = match self.receipt_kind.as_str() {
            "" => ReceiptKind::usual_for(fee_type),
            k => ReceiptKind::parse(k).ok_or("请从列表中选择票据种类")?,
        };
        Ok(Profile {
            audience: Audience {
                kinds,
                departments: self.departments.iter().filter(|d| !d.is_empty()).cloned().collect(),
                majors: parse_list(&self.majors),
                grades: parse_list(&self.grades),
                classes: parse_list(&self.classes),
            },
            receipt_kind,
            notice: self.notice.replace("\r\n", "\n").trim().to_string(),
            fields: bursar_domain::project::parse_field_lines(&self.fields).map_err(|e| format!("收集信息：{e}"))?,
        })
    }

    pub fn has_kind(&self, code: &&str) -> bool {
        self.kinds.iter().any(|k| k == code)
    }
    pub fn has_department(&self, id: &String) -> bool {
        self.departments.contains(id)
    }
}

/// Whom an item is for, in words: "所有缴费人", or each list that narrows it.
pub fn describe_audience(a: &Audience, department_names: &HashMap<String, String>) -> String {
    if a.is_everyone() {
        return "所有缴费人".into();
    }
    let mut parts = Vec::new();
    if !a.kinds.is_empty() {
        parts.push(a.kinds.iter().map(|k| k.label_zh()).collect::<Vec<_>>().join("、"));
    }
    if !a.departments.is_empty() {
        let names: Vec<String> = a
            .departments
            .iter()
            .map(|d| department_names.get(d).cloned().unwrap_or_else(|| "（已删除的院系）".into()))
            .collect();
        parts.push(names.join("、"));
    }
    if !a.majors.is_empty() {
        parts.push(format!("专业：{}", a.majors.join("、")));
    }
    if !a.grades.is_empty() {
        parts.push(format!("{} 级", a.grades.join("、")));
    }
    if !a.classes.is_empty() {
        parts.push(format!("班级：{}", a.classes.join("、")));
    }
    parts.join("；")
}
