"""What mail clients write around a reply, in many languages: the pattern data of ``quotes``.

- Attribution lines ("On … wrote:") as Gmail, Outlook, Thunderbird, Apple Mail, mutt and others
  write them in English, German, French, Spanish, Italian, Portuguese, Dutch, Polish, Czech,
  Romanian, Greek, Arabic, Japanese, Chinese, Korean, Hungarian, Vietnamese, Finnish, Turkish,
  Russian, Ukrainian and the Scandinavian languages. A line is an attribution when it ends with a
  colon, names the writer's verb ("wrote", "schrieb", "a écrit", "写道"…) and carries a date or an
  address, or when it is a date and an address followed by a colon (Gmail's Russian and
  Japanese forms). A sentence that merely starts with "On" or "Am" has neither.
- Header blocks (``From:``/``Sent:``/``To:``/``Subject:``) with the field names of those languages.
- "Original message" and "Forwarded message" separators, and mobile clients' footers.

Pure data and small predicates; ``quotes`` decides what they mean for a reply.
"""

from __future__ import annotations

import re
from typing import Final

#: Verbs that end the attribution ("Ann wrote:", "Ann a écrit :", "Ann 写道：").
_VERB_LAST: Final = (
    r"wrote|writes|"                                               # en
    r"a\s+[ée]crit|[ée]crit|"                                      # fr
    r"escribi[óo]|"                                                # es
    r"ha\s+scritto|scrisse|"                                       # it
    r"escreveu|"                                                   # pt
    r"geschreven|"                                                 # nl (be)
    r"napisa[łl]\w*(?:\s*\(a\))?|pisze|"                           # pl
    r"napsal\w*(?:\s*\(a\))?|"                                     # cs
    r"a\s+scris|"                                                  # ro
    r"έγραψε|"                                                     # el
    r"写道|寫道|のメッセージ|작성|"                                # zh, ja, ko
    r"đã\s+viết|"                                                  # vi
    r"kirjoitti|yazd[ıi]|írta|"                                    # fi, tr, hu
    r"написал\w*|пишет|написав\w*|пише"                           # ru, uk
)
#: Verbs the writer (and the date) follow ("schrieb Ann <a@b>:", "ezt írta (időpont: …):").
_VERB_FIRST: Final = r"schrieb|schreef|skrev|skriver|kirjoitti|írta|كتب|napsal\w*"
#: An attribution line: the writer's verb, and the colon at the end.
ATTRIBUTION: Final = re.compile(
    rf"(?:(?:{_VERB_LAST})\s*(?:[:：]|-{{2,}})|(?:{_VERB_FIRST})(?:\s.{{0,200}})?[:：])\s*$", re.IGNORECASE)
#: A date and an address, then a colon (Gmail's Russian and Japanese forms):
#: "пн, 23 нояб. 2026 г. в 14:02, Ann <a@b>:", "2026年11月23日(月) 14:02 Ann <a@b>:".
DATED_ADDRESS: Final = re.compile(r"\d.{0,200}(?:<[^<>\s]+@[^<>\s]+>|\(\s*[^()\s]+@[^()\s]+\s*\)|\S+@\S+)"
                                  r"\s*(?:\S{1,4}\s*)?[:：]\s*$")
#: mutt/Debian: "* Ann Customer <a@b> [2026-11-23 14:02]:".
MUTT: Final = re.compile(r"^\*\s.{0,200}<[^<>\s]+@[^<>\s]+>\s*\[.{0,40}\]\s*:\s*$")
#: ISO-dated Gmail lines without a colon: "2016-03-03 17:21 GMT+01:00 Bob <b@x>".
ISO_DATED: Final = (
    re.compile(r"^\s*\d{4}/\d{1,2}/\d{1,2}\s.{0,100}<[^<>\s]+@[^<>\s]+>\s*$"),
    re.compile(r"^\s*\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}\b.{0,20}\b(GMT|UTC)?[+-]?[\d:]*\s+\S.{0,100}$"),
)
#: Words an attribution starts with when it is wrapped (its first line has no colon yet).
HEADER_START: Final = re.compile(
    r"^\s*>?[-\s]*(on|am|le|el|op|il|em|pe|la|w\s+dniu|dne|den|vào|στις|في|在)\b", re.IGNORECASE)

_FROM: Final = (r"from|von|de|de\s+la|van|da|od|från|fra|от|від|kimden|feladó|lähettäjä|από|من|từ|"
                r"差出人|发件人|寄件者|보낸\s*사람")
_OTHER_FIELDS: Final = (
    r"sent|date|gesendet|datum|envoy[ée]|enviado(?:\s+el)?|inviato|verzonden|wysłano|wysłane|skickat|sendt|"
    r"отправлено|надіслано|дата|odesláno|trimis|στάλθηκε|ημερομηνία|تاريخ\s+الإرسال|التاريخ|送信日時|日付|"
    r"发送时间|日期|寄件日期|elküldve|dátum|đã\s+gửi|ngày|lähetetty|päivämäärä|gönderildi|tarih|보낸\s*날짜|"
    r"to|an|à|para|aan|a|do|till|til|кому|komu|către|προς|إلى|宛先|收件人|收件者|címzett|đến|vastaanottaja|"
    r"kime|받는\s*사람|cc|kopie|másolat|kopio|bilgi|κοιν|نسخة|抄送|副本|참조|"
    r"subject|betreff|objet|asunto|oggetto|assunto|onderwerp|temat|ämne|emne|тема|předmět|subiect|θέμα|"
    r"الموضوع|件名|主题|主旨|tárgy|chủ\s+đề|aihe|konu|제목"
)
HEADER_FIELD: Final = re.compile(rf"^\s*[*_]*\s*(?:{_FROM}|{_OTHER_FIELDS})\s*[*_]*\s*[:：]", re.IGNORECASE)
FROM_FIELD: Final = re.compile(rf"^\s*[*_]*\s*(?:{_FROM})\s*[*_]*\s*[:：]", re.IGNORECASE)

SEPARATOR: Final = re.compile(
    r"^\s*\*?\s*(-{2,}|_{2,}|={2,})?\s*("
    r"original message|forwarded message|begin forwarded message|"
    r"ursprüngliche nachricht|weitergeleitete nachricht|"
    r"message d'origine|message transféré|message original|"
    r"mensaje original|mensaje reenviado|"
    r"messaggio originale|messaggio inoltrato|"
    r"mensagem original|mensagem encaminhada|"
    r"oorspronkelijk bericht|origineel bericht|doorgestuurd bericht|"
    r"oryginalna wiadomość|wiadomość oryginalna|wiadomość przekazana dalej|"
    r"původní zpráva|přeposlaná zpráva|"
    r"mesaj original|mesaj redirecționat|"
    r"αρχικό μήνυμα|προωθημένο μήνυμα|"
    r"الرسالة الأصلية|"
    r"元のメッセージ|転送されたメッセージ|"
    r"原始邮件|原始郵件|转发的邮件|轉寄的郵件|"
    r"원본 메시지|전달된 메시지|"
    r"eredeti üzenet|továbbított üzenet|"
    r"thư gốc|thư chuyển tiếp|"
    r"alkuperäinen viesti|välitetty viesti|"
    r"özgün ileti|orijinal mesaj|iletilen ileti|"
    r"ursprungligt meddelande|vidarebefordrat meddelande|"
    r"oprindelig meddelelse|videresendt meddelelse|opprinnelig melding|"
    r"исходное сообщение|пересылаемое сообщение|оригінальне повідомлення|"
    r"reply above this line"
    r")\s*:?\s*(-{2,}|_{2,}|={2,})?\s*\*?\s*$",
    re.IGNORECASE,
)

MOBILE: Final = re.compile(
    r"^\s*[(<]*\s*("
    r"sent (from|via|with|using|by)\b|sent from my|get (outlook|\[outlook)|from my (iphone|ipad|android)|"
    r"envoy[ée] (de|depuis)\b|von meinem .{0,60}gesendet|gesendet von|enviado (desde|de|do)\b|"
    r"verzonden (met|vanaf|van)\b|verstuurd (met|vanaf|van)\b|inviato da\b|wysłane z\b|skickat från\b|"
    r"sendt fra\b|отправлено с\b|надіслано з\b|diese nachricht wurde von meinem|sent by\b.{0,30}galaxy|"
    r"odesláno z\b|trimis de pe\b|στάλθηκε από\b|أُ?رسلت من|được gửi từ\b|lähetetty\b.{0,30}(iphone|ipad|"
    r"android|puhelime)|.{0,30}(iphone|ipad)'?(umdan|dan|den|-ról|-ről|ról|ről) (gönderildi|küldve)|"
    r"az? .{0,30}(-ról|-ről|ról|ről) küldve|.{0,20}iphone\s*から送信|.{0,20}(发自我的|從我的)\s*iphone|"
    r".{0,30}에서 보냄"
    r").{0,200}$",
    re.IGNORECASE,
)

VALEDICTION: Final = re.compile(
    r"^\s*(thanks|thank you|many thanks|thanks again|thx|cheers|best|all the best|regards|kind regards|"
    r"best regards|warm regards|best wishes|sincerely|yours|yours sincerely|yours truly|"
    r"mit freundlichen grüßen|mit freundlichen grüssen|freundliche grüße|viele grüße|liebe grüße|grüße|gruß|"
    r"danke|vielen dank|"
    r"cordialement|bien cordialement|bien à vous|merci|amitiés|"
    r"saludos|un saludo|atentamente|gracias|"
    r"un saluto|cordiali saluti|saluti|grazie|"
    r"atenciosamente|cumprimentos|obrigad[oa]|"
    r"met vriendelijke groet(en)?|vriendelijke groet(en)?|groeten|bedankt|"
    r"pozdrawiam|z poważaniem|dziękuję|"
    r"s pozdravem|děkuji|"
    r"cu stimă|mulțumesc|"
    r"üdvözlettel|köszönöm|"
    r"ystävällisin terveisin|terveisin|kiitos|"
    r"saygılarımla|teşekkürler|"
    r"med vänlig hälsning|vänliga hälsningar|med venlig hilsen|venlig hilsen|hilsen|tack|tak|"
    r"с уважением|спасибо|з повагою|дякую|"
    r"με εκτίμηση|ευχαριστώ|"
    r"trân trọng|cảm ơn|"
    r"よろしくお願いします|よろしくお願いいたします|ありがとうございます|"
    r"谢谢|此致|敬礼|祝好|謝謝|"
    r"감사합니다|"
    r"مع التحية|شكرا"
    r")[\s,.!]*$", re.IGNORECASE)

GREETING: Final = re.compile(
    r"^\s*(hi|hello|hey|dear|good (morning|afternoon|evening)|hallo|liebe[rs]?|sehr geehrte[rs]?|"
    r"guten (tag|morgen|abend)|bonjour|salut|cher|chère|hola|estimad[oa]|ciao|gentile|buongiorno|olá|"
    r"caro|cara|beste|goedendag|witam|dzień dobry|dobrý den|bună ziua|jó napot|tisztelt|hei|moi|merhaba|"
    r"здравствуйте|добрый день|привіт|добрий день|hej|god dag)\b.{0,60}[,!.:]?\s*$",
    re.IGNORECASE)


def is_attribution(line: str) -> bool:
    """An "On … wrote:" line, in any of the languages above."""
    text = line.strip().lstrip(">").strip()
    if not text or len(text) > 400:
        return False
    if MUTT.match(text) or any(p.match(text) for p in ISO_DATED):
        return True
    if not re.search(r"\d|@", text):
        return False
    return bool(ATTRIBUTION.search(text) or DATED_ADDRESS.search(text))
