/*
 * JSON parsing into QObjects and QObject serialisation (compact and the
 * pretty layout of qemu-img --output=json).
 *
 * The parser accepts RFC 8259 JSON plus QEMU's extension of single-quoted
 * strings.  Numbers without fraction or exponent become int64, or uint64
 * when they only fit there; all others become doubles.  Error messages
 * follow QEMU's JSON parser.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"

typedef enum JSONTokenType {
    JSON_EOI,
    JSON_LCURLY,
    JSON_RCURLY,
    JSON_LSQUARE,
    JSON_RSQUARE,
    JSON_COLON,
    JSON_COMMA,
    JSON_STRING,
    JSON_INTEGER,
    JSON_FLOAT,
    JSON_KEYWORD,
    JSON_ERROR,
} JSONTokenType;

typedef struct JSONToken {
    JSONTokenType type;
    const char *start;
    size_t len;
} JSONToken;

/* QEMU's limit on open brackets and braces at any one time */
#define JSON_MAX_NESTING 1024

typedef struct JSONParser {
    const char *pos;
    JSONToken tok;          /* current (peeked) token */
    bool have_tok;
    int depth;              /* containers currently open */
    Error *err;
} JSONParser;

static bool is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Bytes that can never occur in UTF-8 (except QEMU's C0 80 for NUL) */
static bool is_bad_utf8_byte(unsigned char c)
{
    return c == 0xC1 || c >= 0xF5;
}

/*
 * Scan one token at p->pos.  A malformed token becomes JSON_ERROR spanning
 * from its start through the offending character (or to the end of input).
 */
static void lex_token(JSONParser *p, JSONToken *tok)
{
    const char *s = p->pos;
    const char *start;

    while (is_json_space(*s)) {
        s++;
    }
    start = s;
    tok->start = start;

    switch (*s) {
    case '\0':
        tok->type = JSON_EOI;
        break;
    case '{':
        tok->type = JSON_LCURLY;
        s++;
        break;
    case '}':
        tok->type = JSON_RCURLY;
        s++;
        break;
    case '[':
        tok->type = JSON_LSQUARE;
        s++;
        break;
    case ']':
        tok->type = JSON_RSQUARE;
        s++;
        break;
    case ':':
        tok->type = JSON_COLON;
        s++;
        break;
    case ',':
        tok->type = JSON_COMMA;
        s++;
        break;
    case '"':
    case '\'': {
        char quote = *s++;

        tok->type = JSON_ERROR;
        for (;;) {
            unsigned char c = *s;

            if (c == '\0') {
                goto done;
            }
            if (c == (unsigned char)quote) {
                s++;
                tok->type = JSON_STRING;
                break;
            }
            if (c < 0x20 || is_bad_utf8_byte(c)) {
                /* Other UTF-8 errors are left to the string decoder */
                s++;
                goto done;
            }
            if (c == '\\') {
                s++;
                if (*s == '\0') {
                    goto done;
                }
            }
            s++;
        }
        break;
    }
    default:
        if (*s == '-' || g_ascii_isdigit(*s)) {
            bool is_float = false;

            tok->type = JSON_ERROR;
            if (*s == '-') {
                s++;
            }
            if (*s == '0') {
                s++;
                if (g_ascii_isdigit(*s)) {
                    s++;
                    goto done;
                }
            } else if (g_ascii_isdigit(*s)) {
                while (g_ascii_isdigit(*s)) {
                    s++;
                }
            } else {
                if (*s) {
                    s++;
                }
                goto done;
            }
            if (*s == '.') {
                s++;
                is_float = true;
                if (!g_ascii_isdigit(*s)) {
                    if (*s) {
                        s++;
                    }
                    goto done;
                }
                while (g_ascii_isdigit(*s)) {
                    s++;
                }
            }
            if (*s == 'e' || *s == 'E') {
                s++;
                is_float = true;
                if (*s == '+' || *s == '-') {
                    s++;
                }
                if (!g_ascii_isdigit(*s)) {
                    if (*s) {
                        s++;
                    }
                    goto done;
                }
                while (g_ascii_isdigit(*s)) {
                    s++;
                }
            }
            tok->type = is_float ? JSON_FLOAT : JSON_INTEGER;
        } else if (g_ascii_islower(*s)) {
            while (g_ascii_islower(*s)) {
                s++;
            }
            tok->type = JSON_KEYWORD;
        } else {
            tok->type = JSON_ERROR;
            s++;
        }
        break;
    }
done:
    tok->len = s - start;
    p->pos = s;
}

static JSONToken *peek_token(JSONParser *p)
{
    if (!p->have_tok) {
        lex_token(p, &p->tok);
        p->have_tok = true;
    }
    return &p->tok;
}

static void next_token(JSONParser *p)
{
    p->have_tok = false;
}

static void G_GNUC_PRINTF(2, 3)
parse_error(JSONParser *p, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    if (p->err) {
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    error_setg(&p->err, "JSON parse error, %s", msg);
    g_free(msg);
}

/* Report a token the lexer could not make sense of */
static void lex_error(JSONParser *p, JSONToken *tok)
{
    parse_error(p, "stray '%.*s'", (int)tok->len, tok->start);
}

static int hex_value(char c)
{
    if (g_ascii_isdigit(c)) {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Four hex digits at @s, or -1 */
static int parse_hex4(const char *s)
{
    int i, v = 0;

    for (i = 0; i < 4; i++) {
        int h = hex_value(s[i]);

        if (h < 0) {
            return -1;
        }
        v = v * 16 + h;
    }
    return v;
}

/*
 * Decode one UTF-8 sequence at @s (at most @avail bytes).  Returns the
 * code point and sets *@len, or -1 for an invalid sequence (overlong
 * forms, surrogates and values above U+10FFFF are invalid).  The two-byte
 * form of U+0000 is accepted, since that is how strings carry NUL.
 */
static int32_t utf8_decode(const unsigned char *s, size_t avail,
                           size_t *len)
{
    static const int32_t min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
    int32_t cp;
    size_t n, i;

    if (s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    if (s[0] == 0xC0 && avail >= 2 && s[1] == 0x80) {
        *len = 2;
        return 0;
    }
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return -1;
    }
    if (avail < n) {
        return -1;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return -1;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return -1;
    }
    *len = n;
    return cp;
}

static void utf8_append(GString *s, int32_t cp)
{
    if (cp == 0) {
        /* Modified UTF-8 keeps NUL out of C strings */
        g_string_append_len(s, "\xC0\x80", 2);
    } else {
        g_string_append_unichar(s, cp);
    }
}

/* Contents of a string token (quotes stripped, escapes resolved) */
static QString *parse_string(JSONParser *p, JSONToken *tok)
{
    const char *s = tok->start + 1;
    const char *end = tok->start + tok->len - 1;
    GString *out = g_string_new(NULL);
    QString *ret;

    while (s < end) {
        if (*s == '\\') {
            int32_t cp;

            s++;
            switch (*s) {
            case '"':
            case '\'':
            case '\\':
            case '/':
                g_string_append_c(out, *s++);
                continue;
            case 'b':
                g_string_append_c(out, '\b');
                s++;
                continue;
            case 'f':
                g_string_append_c(out, '\f');
                s++;
                continue;
            case 'n':
                g_string_append_c(out, '\n');
                s++;
                continue;
            case 'r':
                g_string_append_c(out, '\r');
                s++;
                continue;
            case 't':
                g_string_append_c(out, '\t');
                s++;
                continue;
            case 'u':
                break;
            default:
                parse_error(p, "invalid escape sequence in string");
                goto fail;
            }
            /* \uXXXX, with UTF-16 surrogate pairs for planes 1-16 */
            cp = parse_hex4(s + 1);
            if (cp >= 0xD800 && cp <= 0xDBFF && s[5] == '\\' &&
                s[6] == 'u') {
                int low = parse_hex4(s + 7);

                if (low >= 0xDC00 && low <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    utf8_append(out, cp);
                    s += 11;
                    continue;
                }
            }
            if (cp < 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
                /* Quote the escape through its first bad character */
                int n = 1;

                while (n < 5 && hex_value(s[n]) >= 0) {
                    n++;
                }
                parse_error(p, "\\%.*s is not a valid Unicode character",
                            n < 5 ? n + 1 : 5, s);
                goto fail;
            }
            utf8_append(out, cp);
            s += 5;
        } else {
            size_t len;

            if (utf8_decode((const unsigned char *)s, end - s, &len) < 0) {
                parse_error(p, "invalid UTF-8 sequence in string");
                goto fail;
            }
            g_string_append_len(out, s, len);
            s += len;
        }
    }
    ret = qstring_from_str(out->str);
    g_string_free(out, TRUE);
    return ret;

fail:
    g_string_free(out, TRUE);
    return NULL;
}

static QObject *parse_number(JSONToken *tok)
{
    char *text = g_strndup(tok->start, tok->len);
    QObject *ret = NULL;

    if (tok->type == JSON_INTEGER) {
        int64_t i;
        uint64_t u;
        int err = qemu_strtoi64(text, NULL, 10, &i);

        if (!err) {
            ret = QOBJECT(qnum_from_int(i));
        } else if (err == -ERANGE && text[0] != '-' &&
                   !qemu_strtou64(text, NULL, 10, &u)) {
            ret = QOBJECT(qnum_from_uint(u));
        }
        /* Too large even for uint64: fall back to a double */
    }
    if (!ret) {
        ret = QOBJECT(qnum_from_double(g_ascii_strtod(text, NULL)));
    }
    g_free(text);
    return ret;
}

static QObject *parse_value(JSONParser *p);

/*
 * After an element of a dict or list: consume ',' (0) or the closing
 * token @close (1); anything else is an error (-1, reported).
 */
static int parse_separator(JSONParser *p, JSONTokenType close,
                           const char *what)
{
    JSONToken *tok = peek_token(p);

    if (tok->type == close) {
        next_token(p);
        return 1;
    }
    if (tok->type == JSON_COMMA) {
        next_token(p);
        return 0;
    }
    if (tok->type == JSON_EOI) {
        parse_error(p, "premature EOI");
    } else if (tok->type == JSON_ERROR) {
        lex_error(p, tok);
    } else {
        parse_error(p, "expected separator in %s", what);
    }
    return -1;
}

static QObject *parse_object(JSONParser *p)
{
    QDict *dict = qdict_new();
    JSONToken *tok;
    int sep;

    next_token(p);  /* '{' */
    tok = peek_token(p);
    if (tok->type == JSON_RCURLY) {
        next_token(p);
        return QOBJECT(dict);
    }
    for (;;) {
        QObject *key_obj, *value;
        QString *key;

        key_obj = parse_value(p);
        if (!key_obj) {
            goto fail;
        }
        key = qobject_to(QString, key_obj);
        if (!key) {
            qobject_unref(key_obj);
            parse_error(p, "key is not a string in object");
            goto fail;
        }
        tok = peek_token(p);
        if (tok->type != JSON_COLON) {
            qobject_unref(key);
            if (tok->type == JSON_EOI) {
                parse_error(p, "premature EOI");
            } else if (tok->type == JSON_ERROR) {
                lex_error(p, tok);
            } else {
                parse_error(p, "missing : in object pair");
            }
            goto fail;
        }
        next_token(p);
        value = parse_value(p);
        if (!value) {
            qobject_unref(key);
            goto fail;
        }
        qdict_put_obj(dict, qstring_get_str(key), value);
        qobject_unref(key);

        sep = parse_separator(p, JSON_RCURLY, "dict");
        if (sep < 0) {
            goto fail;
        }
        if (sep > 0) {
            return QOBJECT(dict);
        }
    }

fail:
    qobject_unref(dict);
    return NULL;
}

static QObject *parse_array(JSONParser *p)
{
    QList *list = qlist_new();
    JSONToken *tok;
    int sep;

    next_token(p);  /* '[' */
    tok = peek_token(p);
    if (tok->type == JSON_RSQUARE) {
        next_token(p);
        return QOBJECT(list);
    }
    for (;;) {
        QObject *value = parse_value(p);

        if (!value) {
            goto fail;
        }
        qlist_append_obj(list, value);

        sep = parse_separator(p, JSON_RSQUARE, "list");
        if (sep < 0) {
            goto fail;
        }
        if (sep > 0) {
            return QOBJECT(list);
        }
    }

fail:
    qobject_unref(list);
    return NULL;
}

/* Containers recurse; bound the depth so hostile input cannot overflow */
static QObject *parse_container(JSONParser *p, bool object)
{
    QObject *ret;

    if (p->depth >= JSON_MAX_NESTING) {
        if (!p->err) {
            error_setg(&p->err, "JSON nesting depth limit exceeded");
        }
        return NULL;
    }
    p->depth++;
    ret = object ? parse_object(p) : parse_array(p);
    p->depth--;
    return ret;
}

static QObject *parse_value(JSONParser *p)
{
    JSONToken *tok = peek_token(p);
    QObject *ret;

    switch (tok->type) {
    case JSON_LCURLY:
        return parse_container(p, true);
    case JSON_LSQUARE:
        return parse_container(p, false);
    case JSON_STRING:
        ret = QOBJECT(parse_string(p, tok));
        next_token(p);
        return ret;
    case JSON_INTEGER:
    case JSON_FLOAT:
        ret = parse_number(tok);
        next_token(p);
        return ret;
    case JSON_KEYWORD:
        if (tok->len == 4 && !strncmp(tok->start, "true", 4)) {
            ret = QOBJECT(qbool_from_bool(true));
        } else if (tok->len == 5 && !strncmp(tok->start, "false", 5)) {
            ret = QOBJECT(qbool_from_bool(false));
        } else if (tok->len == 4 && !strncmp(tok->start, "null", 4)) {
            ret = QOBJECT(qnull());
        } else {
            parse_error(p, "invalid keyword '%.*s'", (int)tok->len,
                        tok->start);
            return NULL;
        }
        next_token(p);
        return ret;
    case JSON_EOI:
        parse_error(p, "premature EOI");
        return NULL;
    case JSON_ERROR:
        lex_error(p, tok);
        return NULL;
    default:
        parse_error(p, "expecting value");
        return NULL;
    }
}

QObject *qobject_from_json(const char *string, Error **errp)
{
    JSONParser p = { .pos = string };
    QObject *obj;

    if (peek_token(&p)->type == JSON_EOI) {
        error_setg(errp, "Expecting a JSON value");
        return NULL;
    }
    obj = parse_value(&p);
    if (!obj) {
        error_propagate(errp, p.err);
        return NULL;
    }
    if (peek_token(&p)->type != JSON_EOI) {
        qobject_unref(obj);
        error_setg(errp, "Expecting at most one JSON value");
        return NULL;
    }
    return obj;
}

static void append_quoted(GString *accu, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t avail = strlen(str);

    g_string_append_c(accu, '"');
    while (avail) {
        size_t len = 1;
        int32_t cp = utf8_decode(s, avail, &len);

        if (cp < 0) {
            cp = 0xFFFD;    /* replacement character for invalid bytes */
            len = 1;
        }
        s += len;
        avail -= len;
        switch (cp) {
        case '"':
            g_string_append(accu, "\\\"");
            break;
        case '\\':
            g_string_append(accu, "\\\\");
            break;
        case '\b':
            g_string_append(accu, "\\b");
            break;
        case '\f':
            g_string_append(accu, "\\f");
            break;
        case '\n':
            g_string_append(accu, "\\n");
            break;
        case '\r':
            g_string_append(accu, "\\r");
            break;
        case '\t':
            g_string_append(accu, "\\t");
            break;
        default:
            if (cp >= 0x10000) {
                cp -= 0x10000;
                g_string_append_printf(accu, "\\u%04X\\u%04X",
                                       0xD800 | (cp >> 10),
                                       0xDC00 | (cp & 0x3FF));
            } else if (cp < 0x20 || cp >= 0x7F) {
                g_string_append_printf(accu, "\\u%04X", cp);
            } else {
                g_string_append_c(accu, cp);
            }
            break;
        }
    }
    g_string_append_c(accu, '"');
}

static void pretty_newline(GString *accu, bool pretty, int indent)
{
    if (pretty) {
        g_string_append_printf(accu, "\n%*s", 4 * indent, "");
    }
}

/*
 * Containers print their members separated by ", " (compact) or "," plus
 * a newline and indentation (pretty); in pretty mode the closing bracket
 * always goes on its own line, even for an empty container.
 */
static void to_json(const QObject *obj, GString *accu, bool pretty,
                    int indent)
{
    const char *sep = pretty ? "," : ", ";

    switch (qobject_type(obj)) {
    case QTYPE_QNULL:
        g_string_append(accu, "null");
        break;
    case QTYPE_QNUM: {
        char *s = qnum_to_string(qobject_to(QNum, obj));

        g_string_append(accu, s);
        g_free(s);
        break;
    }
    case QTYPE_QSTRING:
        append_quoted(accu, qstring_get_str(qobject_to(QString, obj)));
        break;
    case QTYPE_QBOOL:
        g_string_append(accu, qbool_get_bool(qobject_to(QBool, obj))
                        ? "true" : "false");
        break;
    case QTYPE_QDICT: {
        QDict *dict = qobject_to(QDict, obj);
        const QDictEntry *e;

        g_string_append_c(accu, '{');
        for (e = qdict_first(dict); e; e = qdict_next(dict, e)) {
            if (e != qdict_first(dict)) {
                g_string_append(accu, sep);
            }
            pretty_newline(accu, pretty, indent + 1);
            append_quoted(accu, qdict_entry_key(e));
            g_string_append(accu, ": ");
            to_json(qdict_entry_value(e), accu, pretty, indent + 1);
        }
        pretty_newline(accu, pretty, indent);
        g_string_append_c(accu, '}');
        break;
    }
    case QTYPE_QLIST: {
        QList *list = qobject_to(QList, obj);
        size_t i;

        g_string_append_c(accu, '[');
        for (i = 0; i < qlist_size(list); i++) {
            if (i) {
                g_string_append(accu, sep);
            }
            pretty_newline(accu, pretty, indent + 1);
            to_json(qlist_get(list, i), accu, pretty, indent + 1);
        }
        pretty_newline(accu, pretty, indent);
        g_string_append_c(accu, ']');
        break;
    }
    case QTYPE_NONE:
    default:
        abort();
    }
}

GString *qobject_to_json(const QObject *obj)
{
    return qobject_to_json_pretty(obj, false);
}

GString *qobject_to_json_pretty(const QObject *obj, bool pretty)
{
    GString *accu = g_string_new(NULL);

    to_json(obj, accu, pretty, 0);
    return accu;
}
