//! Reports of how things stand (班级缴费情况, 欠费统计) and of relief given (减免退费).

use std::collections::BTreeMap;

use bursar_domain::fee::DeferralKind;
use bursar_domain::payment::ChannelKind;
use bursar_domain::refund::{RefundKind, RefundState};
use bursar_domain::report::{Cell, ReportFilter};
use bursar_domain::time_fmt::date_cst;
use bursar_domain::Fen;
use bursar_store::reports::{self as facts, ReceivableFact};
use bursar_store::Conn;

use super::collect::period;
use super::{Names, Out, PayerFilterFacts as _};
use crate::error::EngineError;

fn admits(f: &ReportFilter, names: &Names, r: &ReceivableFact) -> bool {
    names.admits_item(f, &r.fee_item_id) && f.admits_payer(&r.payer.facts())
}

fn owed(r: &ReceivableFact) -> (i64, i64) {
    let net = r.due_fen - r.waived_fen;
    (net, net - r.paid_fen)
}

/// One payer's receivables in the report, added up.
struct PayerSum {
    college: String,
    grade: String,
    class: String,
    due: i64,
    paid: i64,
    outstanding: i64,
}

#[derive(Default)]
struct ClassSum {
    payers: i64,
    settled: i64,
    part: i64,
    none: i64,
    due: i64,
    paid: i64,
    outstanding: i64,
}

/// 班级缴费情况: per class, how many payers paid all, part or nothing of what the report covers.
pub(super) async fn classes(
    c: &mut impl Conn,
    f: &ReportFilter,
    names: &Names,
    out: &mut Out<'_>,
) -> Result<(), EngineError> {
    let mut payers: BTreeMap<String, PayerSum> = BTreeMap::new();
    facts::each_receivable(c, false, |r| {
        if admits(f, names, &r) {
            let (net, outstanding) = owed(&r);
            let p = payers.entry(r.payer.id.clone()).or_insert_with(|| PayerSum {
                college: names.department(&r.payer.department_id),
                grade: r.payer.grade.clone(),
                class: r.payer.class_name.clone(),
                due: 0,
                paid: 0,
                outstanding: 0,
            });
            p.due += net;
            p.paid += r.paid_fen;
            p.outstanding += outstanding;
        }
        Ok(())
    })
    .await?;
    let mut classes: BTreeMap<(String, String, String), ClassSum> = BTreeMap::new();
    for p in payers.into_values() {
        let s = classes.entry((p.college, p.grade, p.class)).or_default();
        s.payers += 1;
        if p.outstanding <= 0 {
            s.settled += 1;
        } else if p.paid == 0 {
            s.none += 1;
        } else {
            s.part += 1;
        }
        s.due += p.due;
        s.paid += p.paid;
        s.outstanding += p.outstanding;
    }
    for ((college, grade, class), s) in classes {
        out.row(vec![
            Cell::Text(if college.is_empty() { "（未分院系）".into() } else { college }),
            Cell::Text(grade),
            Cell::Text(if class.is_empty() { "（未分班）".into() } else { class }),
            Cell::Count(s.payers),
            Cell::Count(s.settled),
            Cell::Count(s.part),
            Cell::Count(s.none),
            Cell::Money(Fen(s.due)),
            Cell::Money(Fen(s.paid)),
            Cell::Money(Fen(s.outstanding)),
            Cell::share(Fen(s.paid), Fen(s.due)),
        ]);
    }
    Ok(())
}

/// 欠费统计: every receivable still owing, college → class → payer; what is deferred and what
/// was waived in columns of their own.
pub(super) async fn arrears(
    c: &mut impl Conn,
    f: &ReportFilter,
    names: &Names,
    out: &mut Out<'_>,
) -> Result<(), EngineError> {
    facts::each_receivable(c, true, |r| {
        if admits(f, names, &r) {
            let (_, outstanding) = owed(&r);
            let deferred = r.deferred_until_ms.filter(|u| *u > names.now_ms);
            let until = match (deferred, r.deferral_kind.as_deref().and_then(DeferralKind::parse)) {
                (Some(u), Some(k)) => format!("{}（{}）", date_cst(u), k.label_zh()),
                (Some(u), None) => date_cst(u),
                _ => String::new(),
            };
            let (_, item, _) = names.item(&r.fee_item_id);
            out.row(vec![
                Cell::Text(names.department(&r.payer.department_id)),
                Cell::Text(r.payer.class_name.clone()),
                Cell::Text(r.payer.identifier.clone()),
                Cell::Text(r.payer.name.clone()),
                Cell::Text(item.to_string()),
                Cell::Text(r.academic_year.clone()),
                Cell::Money(Fen(r.due_fen)),
                Cell::Money(Fen(r.waived_fen)),
                Cell::Money(Fen(r.paid_fen)),
                Cell::Money(Fen(outstanding)),
                Cell::Money(Fen(if deferred.is_some() { outstanding } else { 0 })),
                Cell::Text(until),
            ]);
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// 减免退费: waivers and deferrals approved, and refunds paid out, in the period, by date.
pub(super) async fn relief(
    c: &mut impl Conn,
    f: &ReportFilter,
    names: &Names,
    out: &mut Out<'_>,
) -> Result<(), EngineError> {
    let (from, to) = period(f);
    let mut rows: Vec<(i64, Vec<Cell>)> = Vec::new();
    let by_operator = |a: &str, b: &str| f.admits_operator(a) || f.admits_operator(b);
    // Waivers and deferrals move through no channel: a channel filter leaves them out.
    if f.channel.is_none() {
        facts::each_relief(c, from, to, |x| {
            let payer = x.payer.facts();
            if names.admits_item(f, &x.fee_item_id)
                && f.admits_payer(&payer)
                && by_operator(&x.requested_by, &x.decided_by)
            {
                let (label, note) = if x.relief == "waiver" {
                    ("减免", String::new())
                } else {
                    let kind = DeferralKind::parse(&x.kind).map(DeferralKind::label_zh).unwrap_or("");
                    ("缓缴", format!("缓缴至 {}（{kind}）", x.until_ms.map(date_cst).unwrap_or_default()))
                };
                let (_, item, _) = names.item(&x.fee_item_id);
                rows.push((
                    x.at_ms,
                    vec![
                        Cell::Text(label.into()),
                        Cell::Text(date_cst(x.at_ms)),
                        Cell::Text(x.payer.identifier),
                        Cell::Text(x.payer.name),
                        Cell::Text(names.department(&x.payer.department_id)),
                        Cell::Text(item.to_string()),
                        Cell::Money(Fen(x.amount_fen)),
                        Cell::Text(note),
                        Cell::Text(x.reason),
                        Cell::Text(names.actor(&x.requested_by)),
                        Cell::Text(names.actor(&x.decided_by)),
                    ],
                ));
            }
            Ok(())
        })
        .await?;
    }
    facts::each_refund(c, from, to, |x| {
        let payer = x.payer.facts();
        if names.admits_item(f, &x.fee_item_id)
            && f.admits_payer(&payer)
            && f.admits_channel(ChannelKind::parse(&x.channel))
            && by_operator(&x.requested_by, &x.decided_by)
        {
            let kind = RefundKind::parse(&x.kind).map(RefundKind::label_zh).unwrap_or("");
            let manual = if RefundState::parse(&x.state) == Some(RefundState::Manual) { "，线下转账" } else { "" };
            let (_, item, _) = names.item(&x.fee_item_id);
            rows.push((
                x.at_ms,
                vec![
                    Cell::Text("退款".into()),
                    Cell::Text(date_cst(x.at_ms)),
                    Cell::Text(x.payer.identifier),
                    Cell::Text(x.payer.name),
                    Cell::Text(names.department(&x.payer.department_id)),
                    Cell::Text(item.to_string()),
                    Cell::Money(Fen(x.amount_fen)),
                    Cell::Text(format!("{kind}（{}{manual}）", super::channel_label(&x.channel))),
                    Cell::Text(x.reason),
                    Cell::Text(names.actor(&x.requested_by)),
                    Cell::Text(names.actor(&x.decided_by)),
                ],
            ));
        }
        Ok(())
    })
    .await?;
    rows.sort_by_key(|(at, _)| *at);
    for (_, r) in rows {
        out.row(r);
    }
    Ok(())
}
