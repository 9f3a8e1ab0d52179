//! A fee item's profile as stored (收费对象, 票据种类, 缴费须知, 缴费时收集的信息): the same eight
//! columns on `fee_items` and on each `fee_item_changes` row, read and written one way.

use bursar_domain::audience::{Audience, Profile, ReceiptKind};
use bursar_domain::project::{format_field_lines, parse_field_lines, Field};

/// The stored columns (audience lists comma-separated, fields as field lines).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ProfileCols {
    #[sqlx(try_from = "String")]
    pub receipt_kind: ReceiptKind,
    pub payer_notice: String,
    pub audience_kinds: String,
    pub audience_departments: String,
    pub audience_majors: String,
    pub audience_grades: String,
    pub audience_classes: String,
    /// Field lines (see [`parse_field_lines`]).
    pub fields: String,
}

/// The columns, in the order [`bind`] binds them.
pub(crate) const COLS: &str =
    "receipt_kind, payer_notice, audience_kinds, audience_departments, audience_majors, audience_grades, audience_classes, fields";

impl ProfileCols {
    pub fn audience(&self) -> Audience {
        Audience::from_stored(
            &self.audience_kinds,
            &self.audience_departments,
            &self.audience_majors,
            &self.audience_grades,
            &self.audience_classes,
        )
    }
    /// What payers are asked when paying (stored lines that no longer parse: none).
    pub fn fields(&self) -> Vec<Field> {
        parse_field_lines(&self.fields).unwrap_or_default()
    }
    pub fn profile(&self) -> Profile {
        Profile {
            audience: self.audience(),
            receipt_kind: self.receipt_kind,
            notice: self.payer_notice.clone(),
            fields: self.fields(),
        }
    }
}

pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds a profile's eight columns, in [`COLS`] order.
pub(crate) fn bind<'q>(q: AnyQuery<'q>, p: &Profile) -> AnyQuery<'q> {
    let [kinds, departments, majors, grades, classes] = p.audience.to_stored();
    q.bind(p.receipt_kind.as_str())
        .bind(p.notice.clone())
        .bind(kinds)
        .bind(departments)
        .bind(majors)
        .bind(grades)
        .bind(classes)
        .bind(format_field_lines(&p.fields))
}
