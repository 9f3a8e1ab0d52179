"""Writes a receivables xlsx (学号, 项目编码, 学年, 金额, 备注) for the students of
bench/roster_file.py: one row per student and item code, for the import benchmark.
  python3 bench/receivables_file.py 50000 XF,ZSF,JCF,BXF 2027-2028 /tmp/receivables.xlsx"""
import io
import sys
import zipfile
from xml.sax.saxutils import escape

n, codes, year, path = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3], sys.argv[4]
amounts = {"XF": "5000.00", "ZSF": "1200.00", "JCF": "350.50", "BXF": "100.00", "CET": "30.00", "NCRE": "80.00"}
header = ["学号", "项目编码", "学年", "金额", "备注"]


def cell(r, c, v):
    return f'<c r="{chr(65 + c)}{r}" t="inlineStr"><is><t>{escape(v)}</t></is></c>'


rows = io.StringIO()
rows.write('<row r="1">' + "".join(cell(1, i, h) for i, h in enumerate(header)) + "</row>")
r = 1
for code in codes:
    for i in range(n):
        r += 1
        number = f"{2026 - i % 4}{i:06d}"  # as bench/roster_file.py numbers them
        vals = [number, code, year, amounts.get(code, "100.00"), ""]
        rows.write(f'<row r="{r}">' + "".join(cell(r, c, v) for c, v in enumerate(vals)) + "</row>")
ns = "http://schemas.openxmlformats.org"
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("[Content_Types].xml", f'<?xml version="1.0"?><Types xmlns="{ns}/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
    z.writestr("_rels/.rels", f'<?xml version="1.0"?><Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    z.writestr("xl/workbook.xml", f'<?xml version="1.0"?><workbook xmlns="{ns}/spreadsheetml/2006/main" xmlns:r="{ns}/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
    z.writestr("xl/_rels/workbook.xml.rels", f'<?xml version="1.0"?><Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
    z.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0"?><worksheet xmlns="{ns}/spreadsheetml/2006/main"><dimension ref="A1:E{r}"/><sheetData>{rows.getvalue()}</sheetData></worksheet>')
print(path, r - 1, "rows")
