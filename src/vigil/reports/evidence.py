"""The evidence pack's PDFs: a summary of the case and the certificate of the Bharatiya Sakshya
Adhiniyam, 2023, s.63(4)(c) (Parts A and B, in English and Hindi), laid out by WeasyPrint, whose Pango
shapes Devanagari (matplotlib cannot). The content comes from ``vigil.domain.evidence`` (``case.json``
and the files' hashes); this module only lays it out."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from importlib.resources import files as package_files
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from vigil.domain.evidence import PackFile
from vigil.store.media import media_type

__all__ = ["CERTIFICATE_TEXT", "EvidencePdfs"]

_templates = Environment(loader=PackageLoader("vigil.reports", "templates"), autoescape=select_autoescape())

_SOURCES_EN = {
    "computer": "Computer / storage media",
    "dvr": "DVR",
    "mobile": "Mobile",
    "flash": "Flash drive",
    "cd": "CD/DVD",
    "server": "Server",
    "cloud": "Cloud",
    "other": "Other",
}
_SOURCES_HI = {
    "computer": "कंप्यूटर / भंडारण माध्यम",
    "dvr": "डीवीआर",
    "mobile": "मोबाइल",
    "flash": "फ़्लैश ड्राइव",
    "cd": "सीडी/डीवीडी",
    "server": "सर्वर",
    "cloud": "क्लाउड",
    "other": "अन्य",
}

# The certificate's words in each language: the form in the Schedule to s.63(4)(c), field by field, filled
# with what Vigil knows; a blank wherever a person must write, tick or sign (name, parentage, address,
# the server's make, model, colour, serial number and identifiers, how the system is under their control,
# signature, date, time, place). The English follows the Schedule; the Hindi is Vigil's working translation
# of it (not the Act's official Hindi text) and, like the English, needs the force's legal review.
CERTIFICATE_TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "schedule": "The Schedule [see section 63(4)(c)] of the Bharatiya Sakshya Adhiniyam, 2023",
        "title": "Certificate",
        "part_a": "Part A (to be filled by the party)",
        "part_b": "Part B (to be filled by the expert)",
        "i_am": "I,",
        "name": "(name),",
        "child_of": "son / daughter / spouse of",
        "residing": "residing / employed at",
        "affirm": "do hereby solemnly affirm and sincerely state and submit as follows:",
        "produced": "I have produced electronic record / output of the digital record taken from the following "
        "device / digital record source (tick mark):",
        "obtained": "The produced electronic record / output of the digital record are obtained from the following "
        "device / digital record source (tick mark):",
        "sources": _SOURCES_EN,
        "other": "Other",
        "make_model": "Make & model",
        "color": "Colour",
        "serial": "Serial number",
        "ids": "IMEI / UIN / UID / MAC / Cloud ID (as applicable)",
        "relevant": "and any other relevant information, if any, about the device / digital record (specify):",
        "system": "System (software) and version",
        "system_is": "a face-watchlist system: control-room server, its database and media store",
        "records": "The electronic records",
        "records_are": "the files listed below: the evidence pack of confirmed alert",
        "cameras": "Camera that captured the images",
        "period": "Subject seen on the camera (IST)",
        "exported": "Pack made (IST)",
        "key": "Fingerprint of the key the pack is signed with (SHA-256 of the Ed25519 public key)",
        "lawful_control": "The digital device or the digital record source was under the lawful control for "
        "regularly creating, storing or processing information for the purposes of carrying out regular "
        "activities and during this period, the computer or the communication device was working properly and "
        "the relevant information was regularly fed into the computer during the ordinary course of business. "
        "If the computer / digital device at any point of time was not working properly or out of operation, "
        "then it has not affected the electronic / digital record or its accuracy. The digital device or the "
        "source of the digital record is:",
        "control": {"owned": "Owned", "maintained": "Maintained", "managed": "Managed", "operated": "Operated"},
        "by_me": "by me (select as applicable).",
        "hash_values": "I state that the hash value(s) of the electronic / digital record(s) is / are as listed "
        "below, obtained through the following algorithm:",
        "legally_acceptable": "(legally acceptable standard)",
        "file": "File",
        "hash_report": "Hash report enclosed: manifest.json in the same pack lists every file with its SHA-256 and "
        "is signed with the key named above.",
        "signature_a": "(Name and signature)",
        "signature_b": "(Name, designation and signature)",
        "date": "Date (DD/MM/YYYY)",
        "time": "Time (IST): ______ hours (in 24-hour format)",
        "place": "Place",
        "prefilled": "The printed entries were filled in by Vigil when the pack was made; the blanks and boxes are "
        "for the person signing.",
    },
    "hi": {
        "schedule": "भारतीय साक्ष्य अधिनियम, 2023 की अनुसूची [धारा 63(4)(ग) देखें]",
        "title": "प्रमाणपत्र",
        "part_a": "भाग क (पक्षकार द्वारा भरा जाए)",
        "part_b": "भाग ख (विशेषज्ञ द्वारा भरा जाए)",
        "i_am": "मैं,",
        "name": "(नाम),",
        "child_of": "पुत्र / पुत्री / पति / पत्नी",
        "residing": "निवासी / नियोजित",
        "affirm": "सत्यनिष्ठा से प्रतिज्ञान करता / करती हूँ और निष्ठापूर्वक निम्नलिखित कथन एवं निवेदन करता / करती हूँ:",
        "produced": "मैंने निम्नलिखित उपकरण / डिजिटल अभिलेख स्रोत से लिया गया इलेक्ट्रॉनिक अभिलेख / डिजिटल अभिलेख "
        "का आउटपुट प्रस्तुत किया है (सही का चिह्न लगाएँ):",
        "obtained": "प्रस्तुत इलेक्ट्रॉनिक अभिलेख / डिजिटल अभिलेख का आउटपुट निम्नलिखित उपकरण / डिजिटल अभिलेख स्रोत से "
        "प्राप्त किया गया है (सही का चिह्न लगाएँ):",
        "sources": _SOURCES_HI,
        "other": "अन्य",
        "make_model": "निर्माता और मॉडल",
        "color": "रंग",
        "serial": "क्रमांक (सीरियल नंबर)",
        "ids": "आईएमईआई / यूआईएन / यूआईडी / मैक / क्लाउड आईडी (जो लागू हो)",
        "relevant": "तथा उपकरण / डिजिटल अभिलेख के बारे में कोई अन्य सुसंगत जानकारी, यदि हो (उल्लेख करें):",
        "system": "प्रणाली (सॉफ़्टवेयर) और उसका संस्करण",
        "system_is": "चेहरा-निगरानी सूची प्रणाली: नियंत्रण कक्ष सर्वर, उसका डेटाबेस और मीडिया भंडार",
        "records": "इलेक्ट्रॉनिक अभिलेख",
        "records_are": "नीचे सूचीबद्ध फ़ाइलें: पुष्ट अलर्ट का साक्ष्य पैक",
        "cameras": "छवियाँ लेने वाला कैमरा",
        "period": "कैमरे पर व्यक्ति देखा गया (भारतीय मानक समय)",
        "exported": "पैक बनाया गया (भारतीय मानक समय)",
        "key": "पैक पर हस्ताक्षर करने वाली कुंजी का फ़िंगरप्रिंट (Ed25519 सार्वजनिक कुंजी का SHA-256)",
        "lawful_control": "डिजिटल उपकरण या डिजिटल अभिलेख का स्रोत नियमित गतिविधियाँ करने के प्रयोजन से सूचना के "
        "नियमित सृजन, भंडारण या प्रसंस्करण के लिए विधिपूर्ण नियंत्रण में था, और इस अवधि में कंप्यूटर या संचार "
        "उपकरण ठीक से काम कर रहा था तथा संबंधित सूचना कारबार के सामान्य क्रम में नियमित रूप से कंप्यूटर में डाली "
        "जा रही थी। यदि कंप्यूटर / डिजिटल उपकरण किसी समय ठीक से काम नहीं कर रहा था या बंद था, तो इससे "
        "इलेक्ट्रॉनिक / डिजिटल अभिलेख या उसकी शुद्धता प्रभावित नहीं हुई है। डिजिटल उपकरण या डिजिटल अभिलेख का "
        "स्रोत:",
        "control": {"owned": "स्वामित्व में", "maintained": "अनुरक्षित", "managed": "प्रबंधित", "operated": "संचालित"},
        "by_me": "मेरे द्वारा है (जो लागू हो वह चुनें)।",
        "hash_values": "मैं कथन करता / करती हूँ कि इलेक्ट्रॉनिक / डिजिटल अभिलेख / अभिलेखों का हैश मान नीचे सूचीबद्ध "
        "है / हैं, जो निम्नलिखित एल्गोरिदम से प्राप्त किया गया:",
        "legally_acceptable": "(विधिक रूप से स्वीकार्य मानक)",
        "file": "फ़ाइल",
        "hash_report": "हैश रिपोर्ट संलग्न: इसी पैक की manifest.json हर फ़ाइल का SHA-256 सूचीबद्ध करती है और ऊपर "
        "नामित कुंजी से हस्ताक्षरित है।",
        "signature_a": "(नाम और हस्ताक्षर)",
        "signature_b": "(नाम, पदनाम और हस्ताक्षर)",
        "date": "दिनांक (DD/MM/YYYY)",
        "time": "समय (भारतीय मानक समय): ______ बजे (24 घंटे के प्रारूप में)",
        "place": "स्थान",
        "prefilled": "छपी हुई प्रविष्टियाँ पैक बनाते समय Vigil ने भरी हैं; रिक्त स्थान और खाने हस्ताक्षर करने वाले व्यक्ति के लिए हैं।",
    },
}


def _css() -> str:
    return package_files("vigil.reports").joinpath("templates", "evidence.css").read_text(encoding="utf-8")


def _pdf(html: str) -> bytes:
    from PIL import ImageFile

    strict = ImageFile.LOAD_TRUNCATED_IMAGES
    from weasyprint import HTML  # imported when a pack is made: it loads Pango

    # importing WeasyPrint turns on Pillow's acceptance of truncated images for the whole process, which
    # would let a truncated enrollment photo through (vigil.vision.image refuses them): put it back
    ImageFile.LOAD_TRUNCATED_IMAGES = strict

    return HTML(string=html).write_pdf()  # type: ignore[no-any-return]


class EvidencePdfs:
    """The :class:`vigil.domain.evidence.PackRenderer` Vigil ships."""

    def summary(
        self,
        case: Mapping[str, Any],
        files: Sequence[PackFile],
        images: Mapping[str, bytes],
        entries: Sequence[Mapping[str, Any]],
    ) -> bytes:
        uris = [
            (path, f"data:{media_type(path)};base64,{base64.b64encode(data).decode()}") for path, data in images.items()
        ]
        html = _templates.get_template("evidence_summary.html").render(
            case=case, files=files, images=uris, entries=entries, css=_css()
        )
        return _pdf(html)

    def certificate(self, case: Mapping[str, Any], files: Sequence[PackFile]) -> bytes:
        html = _templates.get_template("evidence_certificate.html").render(
            case=case,
            files=files,
            languages=[("en", CERTIFICATE_TEXT["en"]), ("hi", CERTIFICATE_TEXT["hi"])],
            css=_css(),
        )
        return _pdf(html)
