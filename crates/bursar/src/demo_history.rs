//! The demo school's last fortnight at the cash desk, so that a newcomer's reports and
//! dashboards show something: cash, POS and bank-deduction collections for
//! 90 students (never the first two, whom the walkthroughs pay as themselves), imported through
//! the same 线下导入 command finance uses, by the demo finance clerk. Only a freshly seeded demo
//! gets them.

use anyhow::Context as _;
use bursar_domain::time_fmt::datetime_cst;
use bursar_engine::Engine;

use crate::demo::{students, CLERK_USER};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// Imports the fortnight; returns how many collections it holds.
pub async fn seed_history(engine: &Engine) -> anyhow::Result<usize> {
    let clerk = engine.operator_principal(CLERK_USER).await?.context("the demo finance clerk")?;
    let now = engine.store().now_ms();
    // Day boundaries in Beijing time: each collection between 08:00 and 16:00 of its day.
    let today = now - (now + 8 * HOUR_MS).rem_euclid(DAY_MS);
    let mut csv = String::from("来源参考号,学号/工号,收费项目代码,学年,金额,方式,收款时间,收款点/账户\n");
    let mut rows = 0;
    for (i, s) in students().iter().enumerate().skip(2).take(90) {
        let n = i64::try_from(i).unwrap_or(0);
        let at = today - (1 + n % 14) * DAY_MS + (8 + n % 8) * HOUR_MS + (n * 7 % 60) * 60_000;
        let (item, amount) = match i % 3 {
            0 => ("ZSF", "1200.00"),
            1 => ("XF", "2000.00"),
            _ => ("ZSF", "600.00"),
        };
        let method = ["现金", "POS", "银行代扣"][i % 3];
        csv.push_str(&format!(
            "DEMO-{i:04},{},{item},2026-2027,{amount},{method},{},财务处一号窗口\n",
            s.number,
            datetime_cst(at)
        ));
        rows += 1;
    }
    let report = engine.import_offline(&clerk, "演示数据-近两周收款.csv", csv.as_bytes()).await?;
    if let Some(e) = report.errors.first() {
        anyhow::bail!("demo history refused: line {}: {}", e.line, e.reason);
    }
    Ok(rows)
}
