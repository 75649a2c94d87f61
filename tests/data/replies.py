"""Operator replies as mail clients write them, in many languages: the reply-trimming test set.

Built from the clients' documented reply formats (Gmail's and Outlook's localised quote headers,
Thunderbird's and Apple Mail's attribution lines, "original message" separators, mobile
footers). Each case is (id, text, expected new text). The reply itself is the same short answer
in the case's language, so a miss shows exactly what the trimmer kept or lost.
"""

from __future__ import annotations

from typing import Final

ADDR = "ann@example.org"
QUOTED = "> Where is my refund?\n> It has been two weeks.\n"
PLAIN_QUOTED = "Where is my refund?\nIt has been two weeks.\n"

#: language → (the answer, Gmail header, Thunderbird/Apple header, Outlook block, separator, mobile footer)
LANGUAGES: Final[dict[str, tuple[str, str, str, str, str, str]]] = {
    "en": ("The refund is on its way.",
           f"On Mon, Nov 23, 2026 at 2:02 PM Ann Customer <{ADDR}> wrote:",
           "On 23.11.26 14:02, Ann Customer wrote:",
           f"From: Ann Customer <{ADDR}>\nSent: Monday, November 23, 2026 2:02 PM\nTo: support@example.com\n"
           "Subject: Refund",
           "-----Original Message-----", "Sent from my iPhone"),
    "de": ("Die Erstattung ist unterwegs.",
           f"Am Mo., 23. Nov. 2026 um 14:02 Uhr schrieb Ann Kundin <{ADDR}>:",
           "Am 23.11.26 um 14:02 schrieb Ann Kundin:",
           f"Von: Ann Kundin <{ADDR}>\nGesendet: Montag, 23. November 2026 14:02\nAn: support@example.com\n"
           "Betreff: Erstattung",
           "-----Ursprüngliche Nachricht-----", "Von meinem iPhone gesendet"),
    "fr": ("Le remboursement est en route.",
           f"Le lun. 23 nov. 2026 à 14:02, Ann Cliente <{ADDR}> a écrit :",
           "Le 23/11/2026 à 14:02, Ann Cliente a écrit :",
           f"De : Ann Cliente <{ADDR}>\nEnvoyé : lundi 23 novembre 2026 14:02\nÀ : support@example.com\n"
           "Objet : Remboursement",
           "-----Message d'origine-----", "Envoyé de mon iPhone"),
    "es": ("El reembolso está en camino.",
           f"El lun, 23 nov 2026 a las 14:02, Ann Cliente (<{ADDR}>) escribió:",
           "El 23/11/26 a las 14:02, Ann Cliente escribió:",
           f"De: Ann Cliente <{ADDR}>\nEnviado el: lunes, 23 de noviembre de 2026 14:02\n"
           "Para: support@example.com\nAsunto: Reembolso",
           "-----Mensaje original-----", "Enviado desde mi iPhone"),
    "it": ("Il rimborso è in arrivo.",
           f"Il giorno lun 23 nov 2026 alle ore 14:02 Ann Cliente <{ADDR}> ha scritto:",
           "Il 23/11/26 14:02, Ann Cliente ha scritto:",
           f"Da: Ann Cliente <{ADDR}>\nInviato: lunedì 23 novembre 2026 14:02\nA: support@example.com\n"
           "Oggetto: Rimborso",
           "-----Messaggio originale-----", "Inviato da iPhone"),
    "pt": ("O reembolso está a caminho.",
           f"Em seg., 23 de nov. de 2026 às 14:02, Ann Cliente <{ADDR}> escreveu:",
           "Em 23/11/2026 14:02, Ann Cliente escreveu:",
           f"De: Ann Cliente <{ADDR}>\nEnviado: segunda-feira, 23 de novembro de 2026 14:02\n"
           "Para: support@example.com\nAssunto: Reembolso",
           "-----Mensagem original-----", "Enviado do meu iPhone"),
    "pt-br": ("O reembolso já foi enviado.",
              f"Em seg, 23 de nov de 2026 14:02, Ann Cliente <{ADDR}> escreveu:",
              "Em 23/11/2026 às 14:02, Ann Cliente escreveu:",
              f"De: Ann Cliente <{ADDR}>\nEnviado: segunda-feira, 23 de novembro de 2026 14:02\n"
              "Para: support@example.com\nAssunto: Reembolso",
              "-------- Mensagem original --------", "Enviado do meu iPhone"),
    "nl": ("De terugbetaling is onderweg.",
           f"Op ma 23 nov 2026 om 14:02 schreef Ann Klant <{ADDR}>:",
           "Op 23-11-2026 om 14:02 schreef Ann Klant:",
           f"Van: Ann Klant <{ADDR}>\nVerzonden: maandag 23 november 2026 14:02\nAan: support@example.com\n"
           "Onderwerp: Terugbetaling",
           "-----Oorspronkelijk bericht-----", "Verzonden vanaf mijn iPhone"),
    "nl-be": ("De terugbetaling is onderweg.",
              f"Ann Klant <{ADDR}> schreef op maandag 23 november 2026 om 14:02:",
              "Op 23/11/2026 om 14:02 heeft Ann Klant geschreven:",
              f"Van: Ann Klant <{ADDR}>\nDatum: maandag 23 november 2026 om 14:02\nAan: support@example.com\n"
              "Onderwerp: Terugbetaling",
              "----- Origineel bericht -----", "Verstuurd vanaf mijn iPhone"),
    "pl": ("Zwrot jest w drodze.",
           f"pon., 23 lis 2026 o 14:02 Ann Klient <{ADDR}> napisał(a):",
           "W dniu 23.11.2026 o 14:02, Ann Klient pisze:",
           f"Od: Ann Klient <{ADDR}>\nWysłano: poniedziałek, 23 listopada 2026 14:02\nDo: support@example.com\n"
           "Temat: Zwrot",
           "-----Wiadomość oryginalna-----", "Wysłane z iPhone'a"),
    "cs": ("Vrácení peněz je na cestě.",
           f"po 23. 11. 2026 v 14:02 odesílatel Ann Zákaznice <{ADDR}> napsal:",
           "Dne 23.11.2026 v 14:02 Ann Zákaznice napsal(a):",
           f"Od: Ann Zákaznice <{ADDR}>\nOdesláno: pondělí 23. listopadu 2026 14:02\nKomu: support@example.com\n"
           "Předmět: Vrácení peněz",
           "-----Původní zpráva-----", "Odesláno z iPhonu"),
    "ro": ("Rambursarea este pe drum.",
           f"Pe lun., 23 nov. 2026 la 14:02, Ann Client <{ADDR}> a scris:",
           "La 23.11.2026 14:02, Ann Client a scris:",
           f"De la: Ann Client <{ADDR}>\nTrimis: luni, 23 noiembrie 2026 14:02\nCătre: support@example.com\n"
           "Subiect: Rambursare",
           "-----Mesaj original-----", "Trimis de pe iPhone-ul meu"),
    "el": ("Η επιστροφή χρημάτων είναι καθ' οδόν.",
           f"Στις Δευ 23 Νοε 2026 στις 14:02, ο/η Ann Πελάτης <{ADDR}> έγραψε:",
           "Στις 23/11/2026 14:02, ο/η Ann Πελάτης έγραψε:",
           f"Από: Ann Πελάτης <{ADDR}>\nΣτάλθηκε: Δευτέρα, 23 Νοεμβρίου 2026 14:02\nΠρος: support@example.com\n"
           "Θέμα: Επιστροφή",
           "-----Αρχικό μήνυμα-----", "Στάλθηκε από το iPhone μου"),
    "ar": ("المبلغ المسترد في الطريق.",
           f"في الاثنين، 23 نوفمبر 2026 في 2:02 م، كتب Ann <{ADDR}>:",
           "في 23/11/2026 14:02، كتب Ann:",
           f"من: Ann <{ADDR}>\nتاريخ الإرسال: الاثنين، 23 نوفمبر 2026 14:02\nإلى: support@example.com\n"
           "الموضوع: استرداد",
           "-----الرسالة الأصلية-----", "أُرسلت من الـ iPhone"),
    "ja": ("返金は手続き中です。",
           f"2026年11月23日(月) 14:02 Ann Customer <{ADDR}>:",
           "2026/11/23 14:02、Ann Customer のメッセージ:",
           f"差出人: Ann Customer <{ADDR}>\n送信日時: 2026年11月23日 14:02\n宛先: support@example.com\n"
           "件名: 返金",
           "-----Original Message-----", "iPhoneから送信"),
    "zh": ("退款正在处理中。",
           f"Ann Customer <{ADDR}> 于2026年11月23日周一 14:02写道：",
           "在 2026/11/23 14:02, Ann Customer 写道:",
           f"发件人: Ann Customer <{ADDR}>\n发送时间: 2026年11月23日 14:02\n收件人: support@example.com\n"
           "主题: 退款",
           "-----原始邮件-----", "发自我的iPhone"),
    "zh-tw": ("退款正在處理中。",
              f"Ann Customer <{ADDR}> 於 2026年11月23日 週一 下午2:02寫道：",
              "Ann Customer 於 2026/11/23 14:02 寫道:",
              f"寄件者: Ann Customer <{ADDR}>\n寄件日期: 2026年11月23日 下午 02:02\n收件者: support@example.com\n"
              "主旨: 退款",
              "-----原始郵件-----", "從我的 iPhone 傳送"),
    "hu": ("A visszatérítés úton van.",
           f"Ann Ügyfél <{ADDR}> ezt írta (időpont: 2026. nov. 23., H, 14:02):",
           "2026. 11. 23. 14:02 keltezéssel, Ann Ügyfél írta:",
           f"Feladó: Ann Ügyfél <{ADDR}>\nElküldve: 2026. november 23., hétfő 14:02\n"
           "Címzett: support@example.com\nTárgy: Visszatérítés",
           "-----Eredeti üzenet-----", "iPhone-ról küldve"),
    "vi": ("Khoản hoàn tiền đang được xử lý.",
           f"Vào Th 2, 23 thg 11, 2026 vào lúc 14:02 Ann Khách <{ADDR}> đã viết:",
           "Vào 23/11/2026 14:02, Ann Khách đã viết:",
           f"Từ: Ann Khách <{ADDR}>\nĐã gửi: Thứ Hai, 23 tháng 11, 2026 14:02\nĐến: support@example.com\n"
           "Chủ đề: Hoàn tiền",
           "-----Thư gốc-----", "Được gửi từ iPhone của tôi"),
    "fi": ("Hyvitys on matkalla.",
           f"ma 23.11.2026 klo 14.02 Ann Asiakas ({ADDR}) kirjoitti:",
           "Ann Asiakas kirjoitti 23.11.2026 klo 14.02:",
           f"Lähettäjä: Ann Asiakas <{ADDR}>\nLähetetty: maanantai 23. marraskuuta 2026 14.02\n"
           "Vastaanottaja: support@example.com\nAihe: Hyvitys",
           "-----Alkuperäinen viesti-----", "Lähetetty iPhonesta"),
    "tr": ("İade yolda.",
           f"Ann Müşteri <{ADDR}>, 23 Kas 2026 Pzt, 14:02 tarihinde şunu yazdı:",
           "23.11.2026 14:02 tarihinde Ann Müşteri yazdı:",
           f"Kimden: Ann Müşteri <{ADDR}>\nGönderildi: 23 Kasım 2026 Pazartesi 14:02\nKime: support@example.com\n"
           "Konu: İade",
           "-----Özgün İleti-----", "iPhone'umdan gönderildi"),
    "ru": ("Возврат уже в пути.",
           f"пн, 23 нояб. 2026 г. в 14:02, Ann Клиент <{ADDR}>:",
           "23.11.2026 14:02, Ann Клиент пишет:",
           f"От: Ann Клиент <{ADDR}>\nОтправлено: 23 ноября 2026 г. 14:02\nКому: support@example.com\n"
           "Тема: Возврат",
           "-----Исходное сообщение-----", "Отправлено с iPhone"),
    "sv": ("Återbetalningen är på väg.",
           f"Den mån 23 nov. 2026 kl 14:02 skrev Ann Kund <{ADDR}>:",
           "Den 2026-11-23 kl. 14:02, skrev Ann Kund:",
           f"Från: Ann Kund <{ADDR}>\nSkickat: den 23 november 2026 14:02\nTill: support@example.com\n"
           "Ämne: Återbetalning",
           "-----Ursprungligt meddelande-----", "Skickat från min iPhone"),
    "da": ("Refusionen er på vej.",
           f"Den man. 23. nov. 2026 kl. 14.02 skrev Ann Kunde <{ADDR}>:",
           "Den 23-11-2026 kl. 14:02 skrev Ann Kunde:",
           f"Fra: Ann Kunde <{ADDR}>\nSendt: 23. november 2026 14:02\nTil: support@example.com\n"
           "Emne: Refusion",
           "-----Oprindelig meddelelse-----", "Sendt fra min iPhone"),
    "uk": ("Повернення коштів уже в дорозі.",
           f"пн, 23 лист. 2026 р. о 14:02 Ann Клієнт <{ADDR}> пише:",
           "23.11.2026 14:02, Ann Клієнт написав:",
           f"Від: Ann Клієнт <{ADDR}>\nНадіслано: 23 листопада 2026 р. 14:02\nКому: support@example.com\n"
           "Тема: Повернення",
           "-----Оригінальне повідомлення-----", "Надіслано з iPhone"),
    "ko": ("환불이 진행 중입니다.",
           f"2026년 11월 23일 (월) 오후 2:02, Ann Customer <{ADDR}>님이 작성:",
           "2026. 11. 23. 오후 2:02, Ann Customer 작성:",
           f"보낸 사람: Ann Customer <{ADDR}>\n보낸 날짜: 2026년 11월 23일 월요일 오후 2:02\n"
           "받는 사람: support@example.com\n제목: 환불",
           "-----Original Message-----", "iPhone에서 보냄"),
}


def _cases() -> list[tuple[str, str, str]]:
    cases: list[tuple[str, str, str]] = []
    for lang, (answer, gmail, attribution, block, separator, mobile) in LANGUAGES.items():
        cases += [
            (f"{lang}-gmail", f"{answer}\n\n{gmail}\n\n{QUOTED}", answer),
            (f"{lang}-gmail-crlf", f"{answer}\n\n{gmail}\n\n{QUOTED}".replace("\n", "\r\n"), answer),
            (f"{lang}-thunderbird", f"{answer}\n\n{attribution}\n{QUOTED}", answer),
            (f"{lang}-outlook", f"{answer}\n\n________________________________\n{block}\n\n{PLAIN_QUOTED}", answer),
            (f"{lang}-outlook-plain", f"{answer}\n\n{block}\n\n{PLAIN_QUOTED}", answer),
            (f"{lang}-separator", f"{answer}\n\n{separator}\n{block}\n\n{PLAIN_QUOTED}", answer),
            (f"{lang}-mobile", f"{answer}\n\n{mobile}\n\n{attribution}\n{QUOTED}", answer),
            (f"{lang}-bottom", f"{gmail}\n\n{QUOTED}\n{answer}\n", answer),
        ]
    return cases


#: Client quirks, the same in every language.
QUIRKS: Final[list[tuple[str, str, str]]] = [
    ("gmail-wrapped-2", f"Done.\n\nOn Mon, Nov 23, 2026 at 2:02 PM Ann Customer <\n{ADDR}> wrote:\n\n{QUOTED}",
     "Done."),
    ("gmail-wrapped-3", "Done.\n\nOn Mon, Nov 23, 2026 at 2:02 PM Ann Customer of the\nVery Long Company Name "
                        f"Limited <\n{ADDR}> wrote:\n\n{QUOTED}", "Done."),
    ("german-wrapped", f"Erledigt.\n\nAm Mo., 23. Nov. 2026 um 14:02 Uhr schrieb Ann Kundin <\n{ADDR}>:\n\n{QUOTED}",
     "Erledigt."),
    ("escaped-quotes", f'Done.\n\nOn Mon, Nov 23, 2026 at 2:02 PM "O\'Brien, \\"Ann\\"" <{ADDR}> wrote:\n{QUOTED}',
     "Done."),
    ("outlook-mailto", "Done.\n\nFrom: Ann Customer [mailto:ann@example.org]\nSent: Monday, November 23, 2026 "
                       f"2:02 PM\nTo: Support\nSubject: RE: Refund\n\n{PLAIN_QUOTED}", "Done."),
    ("outlook-mailto-angle", "Done.\n\nFrom: Ann Customer <mailto:ann@example.org>\nDate: Monday, 23 November "
                             f"2026 at 14:02\nTo: Support <mailto:support@example.com>\nSubject: Refund\n\n"
                             f"{PLAIN_QUOTED}", "Done."),
    ("outlook-bold", f"Done.\n\n**From:** Ann Customer <{ADDR}>\n**Sent:** Monday, November 23, 2026 2:02 PM\n"
                     f"**To:** support@example.com\n**Subject:** Refund\n\n{PLAIN_QUOTED}", "Done."),
    ("apple-mail", f"Done.\n\n> On 23 Nov 2026, at 14:02, Ann Customer <{ADDR}> wrote:\n>\n{QUOTED}", "Done."),
    ("apple-forward", f"See below.\n\nBegin forwarded message:\n\nFrom: Ann <{ADDR}>\nSubject: Refund\n"
                      "Date: 23 November 2026 at 14:02:00 CET\nTo: support@example.com\n\nWhere?\n", "See below."),
    ("gmail-forward", "FYI\n\n---------- Forwarded message ---------\nFrom: Ann <ann@example.org>\n"
                      "Date: Mon, Nov 23, 2026 at 2:02 PM\nSubject: Refund\nTo: <support@example.com>\n\nWhere?\n",
     "FYI"),
    ("gmail-forward-de", "Zur Info\n\n---------- Weitergeleitete Nachricht ---------\nVon: Ann <ann@example.org>\n"
                         "Date: Mo., 23. Nov. 2026 um 14:02 Uhr\nSubject: Erstattung\nTo: <support@example.com>\n\n"
                         "Wo?\n", "Zur Info"),
    ("mutt", f"Done.\n\n* Ann Customer <{ADDR}> [2026-11-23 14:02]:\n{QUOTED}", "Done."),
    ("mutt-bottom", f"* Ann Customer <{ADDR}> [2026-11-23 14:02]:\n{QUOTED}\nDone.\n", "Done."),
    ("interleaved", f"On Mon, Nov 23, 2026 at 2:02 PM Ann <{ADDR}> wrote:\n> Where is my refund?\n\n"
                    "It left on Friday.\n\n> And my invoice?\n\nAttached.\n",
     "> Where is my refund?\n\nIt left on Friday.\n\n> And my invoice?\n\nAttached."),
    ("interleaved-top", "Hi Ann,\n\nanswers below.\n\n> Where is my refund?\nIt left on Friday.\n"
                        "> And my invoice?\nAttached.\n",
     "Hi Ann,\n\nanswers below.\n\n> Where is my refund?\nIt left on Friday.\n> And my invoice?\nAttached."),
    ("bottom-with-sign-off", f"On Mon, Nov 23, 2026 at 2:02 PM Ann <{ADDR}> wrote:\n{QUOTED}\nDone.\n\n"
                             "Best regards,\nBob\n", "Done.\n\nBest regards,\nBob"),
    ("valediction-above-delimiter", "Done.\n\nKind regards,\nBob Builder\nExample Support\n-- \n"
                                    "Bob Builder | +1 555 0100\n", "Done.\n\nKind regards,\nBob Builder\nExample Support"),
    ("valediction-then-quote", f"Done.\n\nBest regards,\nBob\n\nOn Mon, Nov 23, 2026 at 2:02 PM Ann <{ADDR}> "
                               f"wrote:\n{QUOTED}", "Done.\n\nBest regards,\nBob"),
    ("outlook-sign-off", f"Done.\n\nKind regards,\nBob Builder\n\nFrom: Ann <{ADDR}>\nSent: Monday, November 23, "
                         f"2026 2:02 PM\nTo: support@example.com\nSubject: Refund\n\n{PLAIN_QUOTED}",
     "Done.\n\nKind regards,\nBob Builder"),
    ("on-sentence", "On Monday the courier comes, as you wrote.\nOn second thought: call me.\n",
     "On Monday the courier comes, as you wrote.\nOn second thought: call me."),
    ("on-sentence-colon", "On the phone you said:\nit arrived broken. We send a new one.\n",
     "On the phone you said:\nit arrived broken. We send a new one."),
    ("am-sentence", "Am Montag kommt der Kurier.\nAm besten rufen Sie an:\n0800 123\n",
     "Am Montag kommt der Kurier.\nAm besten rufen Sie an:\n0800 123"),
    ("mobile-outlook", f"Done.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n\nFrom: Ann <{ADDR}>\n"
                       f"Sent: Monday, November 23, 2026 2:02 PM\nTo: support@example.com\nSubject: x\n\n{PLAIN_QUOTED}",
     "Done."),
    ("mobile-android", f"Done.\n\nSent from Outlook for Android\n\n{QUOTED}", "Done."),
    ("mobile-samsung", f"Done.\n\nSent from my Samsung Galaxy smartphone.\n\n{QUOTED}", "Done."),
    ("mobile-yahoo", f"Done.\n\nSent from Yahoo Mail on Android\n\n{QUOTED}", "Done."),
    ("mobile-windows", f"Done.\n\nSent from Mail for Windows\n\n{QUOTED}", "Done."),
    ("sig-delimiter-no-space", "Done.\n\n--\nBob\n", "Done."),
    ("code-block", "Run this:\n\n```\n> not a quote\n-- \n```\n\nThen retry.\n",
     "Run this:\n\n```\n> not a quote\n--\n```\n\nThen retry."),     # trailing blanks trimmed
]

CASES: Final = _cases() + QUIRKS
