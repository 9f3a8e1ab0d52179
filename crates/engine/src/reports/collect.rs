//! Reports of money collected in a period: 收费日报, 收费明细, 分部门汇总, 分项目汇总, 分渠道汇总,
//! 收费员收费情况. Every one is made from the same facts — the credits of succeeded payments in
//! the ledger — so their totals agree with each other and with the ledger.

use std::collections::{BTreeMap, HashSet};

use bursar_domain::payment::{ChannelKind, PayMethod};
use bursar_domain::report::{Cell, ReportFilter, ReportKind};
use bursar_domain::time_fmt::{date_cst, datetime_cst};
use bursar_domain::Fen;
use bursar_store::reports::{self as facts, CollectionFact};
use bursar_store::{receivables, Conn};

use super::{channel_label, Names, Out, PayerFilterFacts as _};
use crate::error::EngineError;

/// Payments and money of a group. A payment counts once per group however many of its lines
/// fall in it (facts arrive payment by payment).
#[derive(Default)]
struct Agg {
    count: i64,
    amount: i64,
    last_payment: String,
    payers: Option<HashSet<String>>,
}

impl Agg {
    fn with_payers() -> Agg {
        Agg { payers: Some(HashSet::new()), ..Default::default() }
    }
    fn add(&mut self, f: &CollectionFact) {
        if self.last_payment != f.payment_id {
            self.count += 1;
            self.last_payment.clone_from(&f.payment_id);
        }
        self.amount += f.amount_fen;
        if let Some(p) = &mut self.payers {
            p.insert(f.payer.id.clone());
        }
    }
}

fn admits(f: &ReportFilter, names: &Names, x: &CollectionFact) -> bool {
    names.admits_item(f, &x.fee_item_id)
        && f.admits_channel(ChannelKind::parse(&x.channel))
        && f.admits_operator(&x.collected_by)
        && f.admits_payer(&x.payer.facts())
}

fn method_label(code: &str) -> &'static str {
    PayMethod::parse(code).map(PayMethod::label_zh).unwrap_or("其他方式")
}

pub(super) fn period(f: &ReportFilter) -> (i64, i64) {
    (f.from_ms.unwrap_or(0), f.to_ms.unwrap_or(i64::MAX))
}

pub(super) async fn run(
    c: &mut impl Conn,
    kind: ReportKind,
    f: &ReportFilter,
    names: &Names,
    out: &mut Out<'_>,
) -> Result<(), EngineError> {
    let (from, to) = period(f);
    match kind {
        ReportKind::Detail => {
            facts::each_collection(c, from, to, |x| {
                if admits(f, names, &x) {
                    out.row(detail_row(names, x));
                }
                Ok(())
            })
            .await?;
        }
        ReportKind::Daily => {
            let mut groups: BTreeMap<(String, String, String, &'static str), Agg> = BTreeMap::new();
            facts::each_collection(c, from, to, |x| {
                if admits(f, names, &x) {
                    let (code, name, _) = names.item(&x.fee_item_id);
                    let key =
                        (date_cst(x.succeeded_at_ms), code.to_string(), name.to_string(), channel_label(&x.channel));
                    groups.entry(key).or_default().add(&x);
                }
                Ok(())
            })
            .await?;
            for ((day, code, name, channel), a) in groups {
                out.row(vec![
                    Cell::Text(day),
                    Cell::Text(code),
                    Cell::Text(name),
                    Cell::Text(channel.into()),
                    Cell::Count(a.count),
                    Cell::Money(Fen(a.amount)),
                ]);
            }
        }
        ReportKind::Departments => {
            let mut groups: BTreeMap<String, Agg> = BTreeMap::new();
            facts::each_collection(c, from, to, |x| {
                if admits(f, names, &x) {
                    let (_, _, dept) = names.item(&x.fee_item_id);
                    let label =
                        if dept.is_empty() { "（多缴款，尚未归属）".into() } else { names.department(dept) };
                    groups.entry(label).or_insert_with(Agg::with_payers).add(&x);
                }
                Ok(())
            })
            .await?;
            for (dept, a) in groups {
                let payers = a.payers.as_ref().map_or(0, HashSet::len);
                out.row(vec![
                    Cell::Text(dept),
                    Cell::Count(a.count),
                    Cell::Count(i64::try_from(payers).unwrap_or(i64::MAX)),
                    Cell::Money(Fen(a.amount)),
                ]);
            }
        }
        ReportKind::Items => items(c, f, names, out, from, to).await?,
        ReportKind::Channels => channels(c, f, names, out, from, to).await?,
        ReportKind::Cashiers => {
            let mut groups: BTreeMap<(String, &'static str), Agg> = BTreeMap::new();
            facts::each_collection(c, from, to, |x| {
                // What a cashier took at the counter: into their own till, or by payment code
                // (collections someone imported from elsewhere are not theirs).
                let at_counter = PayMethod::parse(&x.method).is_some_and(PayMethod::is_payment_code)
                    || x.merchant_id == crate::collection::counter::till_of(&x.collected_by);
                if !x.collected_by.is_empty() && at_counter && admits(f, names, &x) {
                    groups.entry((names.actor(&x.collected_by), method_label(&x.method))).or_default().add(&x);
                }
                Ok(())
            })
            .await?;
            for ((who, method), a) in groups {
                out.row(vec![
                    Cell::Text(who),
                    Cell::Text(method.into()),
                    Cell::Count(a.count),
                    Cell::Money(Fen(a.amount)),
                ]);
            }
        }
        ReportKind::Classes | ReportKind::Arrears | ReportKind::Relief => {
            return Err(EngineError::Invariant(format!("{} is not a collection report", kind.as_str())));
        }
    }
    Ok(())
}

fn detail_row(names: &Names, x: CollectionFact) -> Vec<Cell> {
    let (_, item, _) = names.item(&x.fee_item_id);
    vec![
        Cell::Text(datetime_cst(x.succeeded_at_ms)),
        Cell::Text(x.payer.identifier),
        Cell::Text(x.payer.name),
        Cell::Text(names.department(&x.payer.department_id)),
        Cell::Text(x.payer.class_name),
        Cell::Text(item.to_string()),
        Cell::Text(x.academic_year),
        Cell::Text(channel_label(&x.channel).into()),
        Cell::Text(method_label(&x.method).into()),
        Cell::Money(Fen(x.amount_fen)),
        Cell::Text(x.merchant_order_no),
        Cell::Text(names.actor(&x.collected_by)),
    ]
}

/// 分项目汇总: what each item took in the period, beside how it stands now (the whole item).
async fn items(
    c: &mut impl Conn,
    f: &ReportFilter,
    names: &Names,
    out: &mut Out<'_>,
    from: i64,
    to: i64,
) -> Result<(), EngineError> {
    let mut groups: BTreeMap<String, Agg> = BTreeMap::new();
    facts::each_collection(c, from, to, |x| {
        if admits(f, names, &x) {
            groups.entry(x.fee_item_id.clone()).or_default().add(&x);
        }
        Ok(())
    })
    .await?;
    let standing = receivables::collection_by_item(c, names.now_ms).await?;
    for s in standing.iter().filter(|s| names.admits_item(f, &s.fee_item_id)) {
        let a = groups.remove(&s.fee_item_id).unwrap_or_default();
        out.row(vec![
            Cell::Text(s.code.clone()),
            Cell::Text(s.name.clone()),
            Cell::Text(names.department(&s.department_id)),
            Cell::Count(a.count),
            Cell::Money(Fen(a.amount)),
            Cell::Money(s.due_fen),
            Cell::Money(s.paid_fen),
            Cell::Money(Fen(s.due_fen.get() - s.paid_fen.get())),
            Cell::share(s.paid_fen, s.due_fen),
        ]);
    }
    // What is left belongs to no item: overpayments.
    for (id, a) in groups {
        let (code, name, _) = names.item(&id);
        out.row(vec![
            Cell::Text(code.into()),
            Cell::Text(name.into()),
            Cell::Text(String::new()),
            Cell::Count(a.count),
            Cell::Money(Fen(a.amount)),
            Cell::Money(Fen::ZERO),
            Cell::Money(Fen::ZERO),
            Cell::Money(Fen::ZERO),
            Cell::Share(None),
        ]);
    }
    Ok(())
}

/// The row of 分渠道汇总 for refunds paid by bank transfer.
const MANUAL_REFUNDS: &str = "线下转账（退款）";

/// 分渠道汇总: collected and refunded per channel in the period.
async fn channels(
    c: &mut impl Conn,
    f: &ReportFilter,
    names: &Names,
    out: &mut Out<'_>,
    from: i64,
    to: i64,
) -> Result<(), EngineError> {
    let mut taken: BTreeMap<&'static str, Agg> = BTreeMap::new();
    facts::each_collection(c, from, to, |x| {
        if admits(f, names, &x) {
            taken.entry(channel_label(&x.channel)).or_default().add(&x);
        }
        Ok(())
    })
    .await?;
    let mut refunded: BTreeMap<&'static str, (i64, i64, String)> = BTreeMap::new();
    facts::each_refund(c, from, to, |r| {
        let payer = r.payer.facts();
        if names.admits_item(f, &r.fee_item_id)
            && f.admits_channel(ChannelKind::parse(&r.channel))
            && f.admits_payer(&payer)
            && f.operator_id.is_none()
        {
            // A refund paid by bank transfer left the school's bank account, not the channel.
            let label = if r.state == "manual" { MANUAL_REFUNDS } else { channel_label(&r.channel) };
            let e = refunded.entry(label).or_default();
            if e.2 != r.refund_id {
                e.0 += 1;
                e.2.clone_from(&r.refund_id);
            }
            e.1 += r.amount_fen;
        }
        Ok(())
    })
    .await?;
    for label in ChannelKind::ALL.iter().map(|k| k.label_zh()).chain([MANUAL_REFUNDS]) {
        let a = taken.remove(label).unwrap_or_default();
        let (rn, ra, _) = refunded.remove(label).unwrap_or_default();
        if a.count == 0 && rn == 0 {
            continue;
        }
        out.row(vec![
            Cell::Text(label.into()),
            Cell::Count(a.count),
            Cell::Money(Fen(a.amount)),
            Cell::Count(rn),
            Cell::Money(Fen(ra)),
            Cell::Money(Fen(a.amount - ra)),
        ]);
    }
    Ok(())
}
