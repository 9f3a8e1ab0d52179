"""Writes an offline-collection CSV (来源参考号, 学号/工号, 收费项目代码, 学年, 金额, 方式, 收款时间,
收款点/账户) of N cash/POS/bank collections of ¥1.00 each, against the 2027-2028 tuition (XF)
that bench/receivables_file.py raised for bench/roster_file.py's students, spread over the
30 days before now (Beijing time), for the reports and dashboard benchmark.
  python3 bench/payments_file.py 100000 0 /tmp/payments-0.csv    (N, first reference number, path)"""
import sys
import time

n, first, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
students = 50000
methods = ["现金", "POS", "银行代扣"]
now = time.time()
with open(path, "w", encoding="utf-8") as f:
    f.write("来源参考号,学号/工号,收费项目代码,学年,金额,方式,收款时间,收款点/账户\n")
    for k in range(first, first + n):
        i = k % students
        number = f"{2026 - i % 4}{i:06d}"  # as bench/roster_file.py numbers them
        at = now - 60 - (k * 7919 % (30 * 86400))
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at + 8 * 3600))
        f.write(f"BENCH-{k:08d},{number},XF,2027-2028,1.00,{methods[k % 3]},{when},财务处{1 + k % 4}号窗口\n")
print(path, n, "rows")
