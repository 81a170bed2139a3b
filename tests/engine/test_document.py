"""parse_document: hardened parsing, shape limits, and one clear error per bad document."""

from __future__ import annotations

import pytest

from engine.document import MAX_BYTES, MAX_DEPTH, MAX_ELEMENTS, parse_document
from engine.errors import DocumentError
from verbs.answer import Answer
from verbs.gather import Gather
from verbs.hangup import Hangup
from verbs.pause import Pause
from verbs.play import Play
from verbs.redirect import Redirect
from verbs.speak import Speak

URL = "http://scripts.example/ivr.xml"


def refused(body: bytes | str) -> DocumentError:
    if isinstance(body, str):
        body = body.encode()
    with pytest.raises(DocumentError) as info:
        parse_document(body, URL)
    assert info.value.code == 12100
    assert info.value.url == URL
    return info.value


# ---- good documents ----------------------------------------------------------------


def test_every_verb_in_order():
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<!-- the menu -->
<Response>
  <Answer/>
  <Speak voice="woman" language="fr-FR">Bonjour</Speak>
  <Play loop="2">https://media.example/hello.wav</Play>
  <Pause length="2"/>
  <Gather numDigits="1" action="/choice"><Speak>Press 1</Speak><Pause/></Gather>
  <?ignored processing instruction?>
  <Redirect method="GET">/again</Redirect>
  <Hangup/>
</Response>
"""
    assert parse_document(body, URL) == (
        Answer(),
        Speak("Bonjour", "woman", "fr-FR"),
        Play("https://media.example/hello.wav", 2),
        Pause(2),
        Gather(action="/choice", num_digits=1, prompt=(Speak("Press 1"), Pause(1))),
        Redirect("/again", "GET"),
        Hangup(),
    )


@pytest.mark.parametrize("body", [b"<Response/>", b"<Response>\n  \n</Response>",
                                  b"<?xml version='1.0'?><Response><!-- c --></Response>"])
def test_empty_response_is_valid(body):
    assert parse_document(body) == ()


def test_declared_latin1_encoding():
    body = '<?xml version="1.0" encoding="ISO-8859-1"?><Response><Speak>Café</Speak></Response>'
    assert parse_document(body.encode("latin-1")) == (Speak("Café"),)


def test_utf16_with_bom():
    body = "<Response><Speak>Grüß</Speak></Response>".encode("utf-16")
    assert parse_document(body) == (Speak("Grüß"),)


# ---- DOCTYPE and entities ----------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Response><Speak>&lol9;</Speak></Response>"""


@pytest.mark.parametrize("body", [
    "<!DOCTYPE Response []><Response/>",
    "<!DOCTYPE Response><Response/>",
    "<?xml version='1.0'?>\n<!doctype Response [ ]>\n<Response/>",
    BILLION_LAUGHS,
    '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Response><Speak>&x;</Speak>'
    "</Response>",
    '<!DOCTYPE r [<!ENTITY % p SYSTEM "http://evil.example/x.dtd"> %p;]><Response/>',
    '<!DOCTYPE Response SYSTEM "http://evil.example/r.dtd"><Response/>',
])
def test_doctype_refused(body):
    error = refused(body)
    assert "DOCTYPE is not allowed" in str(error)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_doctype_refused_in_wide_encodings(encoding):
    body = f'<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE R []><Response/>'
    error = refused(body.encode(encoding))
    assert "DOCTYPE is not allowed" in str(error)


def test_undefined_entity_refused_with_its_line():
    error = refused("<Response>\n<Speak>&secret;</Speak></Response>")
    assert str(error).startswith("line 2: malformed XML: Entity 'secret' not defined")
    assert error.line == 2


# ---- malformed and misshapen -------------------------------------------------------


@pytest.mark.parametrize("body, start", [
    (b"", "line 1: malformed XML"),
    (b"not xml", "line 1: malformed XML"),
    (b"<Response>\n<Play>a.wav\n</Response>", "line 3: malformed XML"),
    (b"<Response/><Response/>", "line 1: malformed XML"),
    (b"<Response>\xff\xfe</Response>", "line 1: malformed XML"),
])
def test_malformed(body, start):
    assert str(refused(body)).startswith(start)


@pytest.mark.parametrize("body, message", [
    ("<response/>", "line 1: the root element must be <Response>, not <response>"),
    ("<Twiml><Hangup/></Twiml>", "the root element must be <Response>"),
    ('<Response xmlns="http://www.twilio.com/"/>', "not <{http://www.twilio.com/}Response>"),
    ('\n<Response version="2"/>', "line 2, attribute 'version': <Response> takes no attributes"),
    ("<Response>\n  hello\n  <Hangup/></Response>", "line 2: text outside a verb: 'hello'"),
    ("<Response>\n<Pause/>\n<Pause/> stray\n</Response>", "line 3: text outside a verb"),
])
def test_bad_root(body, message):
    assert message in str(refused(body))


def test_size_cap():
    body = b"<Response>" + b" " * MAX_BYTES + b"</Response>"
    assert f"larger than {MAX_BYTES} bytes" in str(refused(body))


def test_element_cap():
    body = "<Response>" + "<Pause/>" * MAX_ELEMENTS + "</Response>"
    assert f"more than {MAX_ELEMENTS} elements" in str(refused(body))


def test_element_cap_leaves_room_for_a_long_script():
    body = "<Response>" + "<Pause/>" * (MAX_ELEMENTS - 1) + "</Response>"
    assert len(parse_document(body.encode())) == MAX_ELEMENTS - 1


def test_depth_cap():
    body = "<Response>" + "<Gather>" * MAX_DEPTH + "</Gather>" * MAX_DEPTH + "</Response>"
    assert f"nested more than {MAX_DEPTH} deep" in str(refused(body))


# ---- verb errors -------------------------------------------------------------------


def test_unknown_verb_names_its_line():
    error = refused("<Response>\n  <Say>Hi</Say>\n  <Dial>123</Dial>\n</Response>")
    assert str(error) == "line 2: unknown verb <Say>"
    assert error.line == 2 and error.attribute is None


def test_bad_attribute_keeps_line_and_attribute():
    error = refused('<Response>\n<Play>a.wav</Play>\n<Gather timeout="soon"/>\n</Response>')
    assert str(error) == (
        "line 3, attribute 'timeout' of <Gather>: 'soon' is not a whole number of seconds"
        " from 1 to 600"
    )
    assert (error.line, error.attribute) == (3, "timeout")


def test_disallowed_verb_nested_in_gather():
    error = refused("<Response><Gather>\n<Redirect>/x</Redirect></Gather></Response>")
    assert "line 2: <Gather> may contain only Play, Speak and Pause" in str(error)


def test_a_bad_last_verb_refuses_the_whole_document():
    body = "<Response><Answer/><Speak>Hi</Speak>\n\n\n<Hangup cause='x'/></Response>"
    error = refused(body)
    assert "line 4, attribute 'cause'" in str(error)


def test_parsed_doctype_is_refused_even_past_the_byte_scan(monkeypatch):
    """The scan is the first guard; the parsed tree is checked again. Past the scan a bomb
    is still refused: libxml2's amplification limit stops it before any expansion."""
    import engine.document

    monkeypatch.setattr(engine.document, "_has_doctype", lambda body: False)
    assert "DOCTYPE is not allowed" in str(refused("<!DOCTYPE Response []><Response/>"))
    assert "DOCTYPE is not allowed" in str(refused('<!DOCTYPE R SYSTEM "x.dtd"><Response/>'))
    refused(BILLION_LAUGHS)
