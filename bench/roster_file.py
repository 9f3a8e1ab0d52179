"""Writes a roster xlsx of N students (valid ID numbers, the template's headers) for the import
benchmark: python3 bench/roster_file.py 50000 /tmp/roster.xlsx"""
import sys, zipfile, io
from xml.sax.saxutils import escape

def check_char(s17):
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * x for c, x in zip(s17, w)) % 11]

n, path = int(sys.argv[1]), sys.argv[2]
header = ["学号", "姓名", "证件类型", "证件号码", "性别", "院系", "专业", "年级", "班级", "学籍状态", "手机", "入学年份"]
def cell(r, c, v):
    col = chr(65 + c)
    return f'<c r="{col}{r}" t="inlineStr"><is><t>{escape(v)}</t></is></c>'
rows = io.StringIO()
rows.write('<row r="1">' + "".join(cell(1, i, h) for i, h in enumerate(header)) + "</row>")
for i in range(n):
    s17 = f"370303{2004 + i % 4}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    idn = s17 + check_char(s17)
    vals = [f"{2026 - i % 4}{i:06d}", f"学生{i}", "居民身份证", idn, "男" if i % 2 else "女", "", "专业", str(2026 - i % 4), f"班{i % 300}", "在读", f"139{i:08d}", str(2026 - i % 4)]
    r = i + 2
    rows.write(f'<row r="{r}">' + "".join(cell(r, c, v) for c, v in enumerate(vals)) + "</row>")
ns = "http://schemas.openxmlformats.org"
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("[Content_Types].xml", f'<?xml version="1.0"?><Types xmlns="{ns}/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
    z.writestr("_rels/.rels", f'<?xml version="1.0"?><Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    z.writestr("xl/workbook.xml", f'<?xml version="1.0"?><workbook xmlns="{ns}/spreadsheetml/2006/main" xmlns:r="{ns}/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
    z.writestr("xl/_rels/workbook.xml.rels", f'<?xml version="1.0"?><Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
    z.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0"?><worksheet xmlns="{ns}/spreadsheetml/2006/main"><dimension ref="A1:L{n + 1}"/><sheetData>{rows.getvalue()}</sheetData></worksheet>')
print(path)
