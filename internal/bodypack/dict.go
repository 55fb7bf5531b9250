package bodypack

import "strings"

// DictID names the dictionary in the frame header of every body compressed
// with it (RFC 8878 3.1.1.1.3; IDs below 32768 are reserved, so this one
// is "TM" and a serial number). A frame without a dictionary ID was
// written before the dictionary existed and decodes without it. The
// dictionary is part of the stored format: its text never changes (a
// test pins its hash); a better one would take a new ID, and the decoder
// would keep both.
const DictID = 0x544d0001

// dict is a zstd raw-content dictionary: the vocabulary of mail
// headers and MIME structure (RFC 5322, RFC 2045-2049, and the fields
// common transfer agents, mail clients and lists add), so that a small
// message, which zstd otherwise compresses with nothing to refer back to,
// finds its header names and boilerplate already "seen". It is written by
// hand, not trained on any mailbox; lines end in CRLF as stored mail does.
var dict = []byte(strings.ReplaceAll(dictText, "\n", "\r\n"))

const dictText = `Return-Path: <
Delivered-To: 
Received: from localhost (localhost [127.0.0.1])
	by mail.example.com (Postfix) with ESMTP id 
Received: from mx1.example.com (mx1.example.com [192.0.2.1])
	by mx.google.com with ESMTPS id 
	for <user@example.com>; Mon, 1 Jan 2024 00:00:00 +0000 (UTC)
ARC-Seal: i=1; a=rsa-sha256; t=; cv=none; d=google.com; s=arc-20160816;
ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=google.com; s=arc-20160816;
ARC-Authentication-Results: i=1; mx.google.com;
Authentication-Results: mx.example.com; dkim=pass header.d=example.com; spf=pass (sender SPF authorized) smtp.mailfrom=; dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=
Received-SPF: pass (mx.example.com: domain of designates as permitted sender) client-ip=
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=; s=; t=; h=From:To:Cc:Subject:Date:Message-ID:MIME-Version:Content-Type:Content-Transfer-Encoding; bh=; b=
X-Spam-Status: No, score= required=5.0 tests=
X-Spam-Score: 
X-Spam-Flag: NO
X-Mailer: 
X-Originating-IP: 
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:) Gecko/20100101 Thunderbird/
X-Priority: 3
Precedence: bulk
List-Id: <
List-Unsubscribe: <mailto:
List-Post: <mailto:
List-Help: <mailto:?subject=help>
List-Subscribe: <mailto:
List-Archive: <https://
Auto-Submitted: auto-generated
Thread-Topic: 
Thread-Index: 
In-Reply-To: <
References: <
Reply-To: 
Sender: 
Organization: 
Content-Language: en-US
Date: Mon, Tue, Wed, Thu, Fri, Sat, Sun, Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec 2024 +0000 -0000 -0500 -0800 +0100 +0200
From: "
To: 
Cc: 
Bcc: 
Subject: Re: Fwd: 
Message-ID: <@mail.gmail.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="UTF-8"; format=flowed
Content-Transfer-Encoding: 7bit
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable
Content-Type: text/plain; charset=us-ascii
Content-Type: text/plain; charset=iso-8859-1
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: base64
Content-Type: multipart/alternative; boundary="
Content-Type: multipart/mixed; boundary="
Content-Type: multipart/related; boundary="
Content-Type: multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256; boundary="
Content-Type: application/pdf; name="
Content-Type: application/octet-stream; name="
Content-Type: image/png; name="
Content-Type: image/jpeg; name="
Content-Type: message/rfc822
Content-Disposition: attachment; filename="
Content-Disposition: inline; filename="
Content-ID: <
This is a multi-part message in MIME format.
This is a MIME-formatted message.  If you see this text it means that your
E-mail software does not support MIME-formatted messages.
<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body><div dir="ltr"><br></div><div class="gmail_quote"><p>
</p></div></body></html>
On Mon, 1 Jan 2024 at 00:00, wrote:
-----Original Message-----
---------- Forwarded message ---------
Sent from my iPhone
Best regards,
Thanks,
Hi all,
-- 
`
