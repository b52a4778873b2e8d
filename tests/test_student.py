"""The student's files are untrusted: what they may link to, embed and make the renderer fetch."""
import base64
import http.server
import threading

import pytest

from fakes import simulate_result
from report.document import Section, document
from report.outputs import Question
from report.render import fetch_allowed, render_html, write_pdf
from report.sections import simulate as simulate_view
from report.student import load_details, load_notes, safe_link

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


@pytest.fixture
def server():
    """A local HTTP server that counts the requests it gets."""
    hits = []

    class Counting(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args):
            pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()


def test_only_http_https_and_mailto_are_safe_links():
    for url in ("https://example.org/x", "http://example.org", "mailto:ada@example.org"):
        assert safe_link(url), url
    for url in ("javascript:alert(1)", "JavaScript:alert(1)", "file:///etc/passwd", "../secret.txt", "notes/x.md",
                "data:text/html,<script>x</script>", "vbscript:x", "//example.org/x", "http:/no-host", "",
                "https://[x"):  # the last is no URL at all: refused, not an exception
        assert not safe_link(url), url


def test_the_pdf_renderer_may_read_only_data_and_the_templates():
    from report.render import TEMPLATES
    assert fetch_allowed("data:image/png;base64,AAAA")
    assert fetch_allowed((TEMPLATES / "report.css").as_uri())
    for url in ("http://127.0.0.1:1/x.png", "https://example.org/x.css", "file:///etc/passwd",
                (TEMPLATES / ".." / "README.md").as_uri(), "ftp://example.org/x", "http://[x",
                "file://fileserver" + str(TEMPLATES / "report.css")):  # a host's share, though its path is ours
        assert not fetch_allowed(url), url


def test_a_hostile_report_toml_and_note_fetch_nothing_and_link_only_safely(tmp_path, server, monkeypatch, capsys):
    url, hits = server
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "plot.png").write_bytes(PNG)
    (tmp_path / "outside.png").write_bytes(PNG)
    (notes / "simulate.md").write_text(
        f"[safe](https://example.org/a) [mail](mailto:ada@example.org) [js](javascript:alert(1)) "
        f"[local](file:///etc/passwd) [relative](../outside.png) [server]({url}/linked)\n\n"
        f"![mine](plot.png) ![remote]({url}/image.png) ![escape](../outside.png) ![absolute]({tmp_path}/outside.png)\n\n"
        f'<img src="{url}/raw.png"> <link rel=stylesheet href="{url}/x.css">\n', encoding="utf-8")
    (tmp_path / "report.toml").write_text(f'title = "<img src={url}/title.png>"\nrepository = "javascript:alert(1)"\n'
                                          'author = "Ada"\n', encoding="utf-8")
    student = load_details(tmp_path / "report.toml", explicit=True)
    note = load_notes(notes, explicit=True, ids=["simulate"])["simulate"]
    warnings = capsys.readouterr().err
    assert warnings.count("simulate.md: image") == 3 and "leads out of the notes folder" in warnings
    assert "names a URL" in warnings

    cfg, res = simulate_result(["MLP-deep", "MLP-middle"], [0.01, 0.02])
    for name, value in (("figures", lambda c, r: []), ("FIGURES", ()), ("tables", lambda c, r: []), ("TABLES", ()),
                        ("QUESTIONS", [Question("q", "1", ["findings"])])):
        monkeypatch.setattr(simulate_view, name, value)
    info = {"profile": "quick", "generated": "now", "device": "cpu", "commit": "c", "versions": "v", "seeds": "s",
            "command": "c", "bench": None}
    html = render_html(document([Section("simulate", simulate_view, cfg, res, "run", note=note)], info, student))
    write_pdf(html, tmp_path / "report.pdf")
    assert hits == []  # neither the HTML's images nor the PDF renderer asked the server for anything

    hrefs = [h.split('"')[0] for h in html.split('href="')[1:] if not h.startswith("#")]  # not the report's anchors
    safe = ["https://example.org/a", "mailto:ada@example.org", f"{url}/linked"]  # a link is followed by a reader only
    assert sorted(hrefs) == sorted(safe)  # javascript:, file:, the relative path and the repository are plain text
    srcs = [s.split('"')[0] for s in html.split('src="')[1:]]
    assert srcs == ["data:image/png;base64," + base64.b64encode(PNG).decode()]  # only the note's own image
    assert "[image left out: remote]" in html and "javascript:alert(1)" in html  # shown as text
    from pypdf import PdfReader
    links = [a.get_object().get("/A", {}).get("/URI") for page in PdfReader(tmp_path / "report.pdf").pages
             for a in page.get("/Annots") or []]
    assert sorted(u for u in links if u) == sorted(safe)


def test_the_pdf_renderer_itself_refuses_what_the_html_names(tmp_path, server):
    """Raw HTML straight to write_pdf: only the fetcher stands between it and the server."""
    url, hits = server
    write_pdf(f'<html><head><link rel="stylesheet" href="{url}/x.css"></head><body><img src="{url}/a.png">'
              f'<p style="background: url({url}/b.png)">x</p></body></html>', tmp_path / "r.pdf")
    assert (tmp_path / "r.pdf").stat().st_size > 0 and hits == []


def test_only_real_images_inside_the_folder_within_the_notes_budget_are_embedded(tmp_path, capsys, monkeypatch):
    from report import student
    notes, outside = tmp_path / "notes", tmp_path / "outside"
    notes.mkdir(), outside.mkdir()
    (outside / "secret.png").write_bytes(PNG)
    (notes / "link.png").symlink_to(outside / "secret.png")  # inside by name, outside in fact
    (notes / "script.png").write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    for name in ("a.png", "b.png", "c.png"):
        (notes / name).write_bytes(PNG)
    monkeypatch.setattr(student, "MAX_NOTE_IMAGE_BYTES", 2 * len(PNG))  # room for two of the three
    (notes / "simulate.md").write_text("![l](link.png) ![s](script.png) ![a](a.png) ![b](b.png) ![c](c.png)")
    html = load_notes(notes, explicit=True, ids=["simulate"])["simulate"]
    warnings = capsys.readouterr().err
    assert html.count("data:image/png;base64,") == 2 and "<svg" not in html and "alert" not in html
    assert "[image left out: l]" in html and "leads out of the notes folder" in warnings
    assert "[image left out: s]" in html and "content is not a .png image" in warnings
    assert "[image left out: c]" in html and "would pass" in warnings


def test_a_note_too_large_to_be_prose_is_one_line(tmp_path):
    from report.student import MAX_NOTE_BYTES
    from hw1core.errors import ConfigError
    (tmp_path / "simulate.md").write_text("x" * (MAX_NOTE_BYTES + 1))
    with pytest.raises(ConfigError, match="simulate.md: larger than 1 MB"):
        load_notes(tmp_path, explicit=True, ids=["simulate"])


def test_a_repository_that_is_no_url_renders_as_text(tmp_path):
    (tmp_path / "report.toml").write_text('repository = "https://[x"\n', encoding="utf-8")
    student = load_details(tmp_path / "report.toml", explicit=True)
    assert student.repository_link == "" and student.repository == "https://[x"


def test_autolinks_and_reference_links_pass_the_same_check(tmp_path):
    (tmp_path / "simulate.md").write_text("<javascript:alert(1)> <https://example.org/auto> [ref][r] [ok][s]\n\n"
                                          "[s]: https://example.org/ref\n\n[r]: file:///etc/passwd\n")
    html = str(load_notes(tmp_path, explicit=True, ids=["simulate"])["simulate"])
    hrefs = sorted(h.split('"')[0] for h in html.split('href="')[1:])
    assert hrefs == ["https://example.org/auto", "https://example.org/ref"] and "file:" not in hrefs[0]


def test_a_note_that_is_no_file_of_the_folder_is_one_line(tmp_path):
    from hw1core.errors import ConfigError
    notes, outside = tmp_path / "notes", tmp_path / "secret.md"
    notes.mkdir()
    outside.write_text("private")
    (notes / "simulate.md").symlink_to(outside)  # a link that leads out of the folder
    with pytest.raises(ConfigError, match="not a file inside"):
        load_notes(notes, explicit=True, ids=["simulate"])
    (notes / "simulate.md").unlink()
    (notes / "simulate.md").symlink_to(tmp_path / "missing.md")  # dangling: one line, not a traceback
    with pytest.raises(ConfigError, match="not a file inside"):
        load_notes(notes, explicit=True, ids=["simulate"])
    (notes / "simulate.md").unlink()
    (notes / "simulate.md").symlink_to("/dev/zero")  # would never end
    with pytest.raises(ConfigError, match="not a file inside"):
        load_notes(notes, explicit=True, ids=["simulate"])
