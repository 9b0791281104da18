#!/usr/bin/env python3
"""Regenerates the tokenizer fixtures in tests/fixtures/tokenizer/ from implementations that share no
code with src/tokenizer/ (Python standard library only, plus the `sentencepiece` command-line tools
for the SentencePiece part).

  llama2c  llama2c_goldens.json: token ids from a line-by-line port of karpathy/llama2.c run.c encode()
           (its O(n^2) merge loop) for data/tok512.bin and data/tokenizer_llama2_32000.bin.
  hf       hf_llama3.json, hf_qwen2.json, hf_gpt2.json: tiny byte-level BPE tokenizers in Hugging Face
           tokenizer.json format, trained here on a text sample (the Llama-3 / Qwen2 / GPT-2
           pre-tokenizer regexes, emulated by hand below because the stdlib `re` has no \\p{L}), and
           hf_goldens.json from an independent GPT-2-style encoder (merge-all-occurrences loop).
  nfc      nfc_goldens.json: unicodedata.normalize('NFC') of strings built from tricky codepoints.
  sp       sp_bpe500.model (trained with spm_train only when missing or with --retrain) and
           sp_goldens.json from the spm_encode CLI.

Usage: python3 scripts/make_tokenizer_goldens.py [llama2c] [hf] [nfc] [sp] [--retrain]   (default: all)
"""
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, 'tests', 'fixtures', 'tokenizer')
DATA = os.path.join(ROOT, 'data')


def write_json(name, obj, indent=1):
    path = os.path.join(FIXTURES, name)
    text = json.dumps(obj, ensure_ascii=False, indent=indent)
    if indent is not None:  # keep id lists on one line so that goldens stay readable and diffable
        text = re.sub(r'\[\s+(-?\d+(?:,\s+-?\d+)*)\s+\]', lambda m: '[' + re.sub(r',\s+', ', ', m.group(1)) + ']', text)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text + '\n')
    print('wrote', os.path.relpath(path, ROOT))


def tinystories(n_bytes):
    with open(os.path.join(DATA, 'tinystories-valid.txt'), 'rb') as f:
        return f.read(n_bytes).decode('utf-8', errors='ignore')


# ---------------------------------------------------------------------------------------------------
# llama2.c


def read_llama2c(path):
    data = open(path, 'rb').read()
    (max_len,) = struct.unpack_from('<i', data, 0)
    off, pieces, scores = 4, [], []
    while off < len(data):
        score, n = struct.unpack_from('<fi', data, off)
        off += 8
        pieces.append(data[off:off + n])
        scores.append(score)
        off += n
    return max_len, pieces, scores


def llama2c_encode(pieces, scores, text, bos):
    """run.c encode(t, text, bos, eos=0, ...), transcribed: same loop structure, same comparisons."""
    lookup = {}
    for i, p in enumerate(pieces):
        lookup.setdefault(p, i)  # sorted_vocab + bsearch; no duplicates in the real files, first id wins
    tokens = []
    if bos:
        tokens.append(1)
    if len(text) > 0:
        tokens.append(lookup.get(b' ', -1) if b' ' in lookup else ord(' ') + 3)
    buf = b''
    i = 0
    while i < len(text):
        c = text[i]
        if (c & 0xC0) != 0x80:
            buf = b''
        buf += bytes([c])
        nxt = text[i + 1] if i + 1 < len(text) else 0
        if (nxt & 0xC0) == 0x80 and len(buf) < 4:
            i += 1
            continue
        if buf in lookup:
            tokens.append(lookup[buf])
        else:
            tokens.extend(b + 3 for b in buf)
        buf = b''
        i += 1
    best_start = struct.unpack('<f', struct.pack('<f', -1e10))[0]  # float best_score = -1e10;
    while True:
        best_score, best_id, best_idx = best_start, -1, -1
        for i in range(len(tokens) - 1):
            pid = lookup.get(pieces[tokens[i]] + pieces[tokens[i + 1]], -1)
            if pid != -1 and scores[pid] > best_score:
                best_score, best_id, best_idx = scores[pid], pid, i
        if best_idx == -1:
            break
        tokens[best_idx] = best_id
        del tokens[best_idx + 1]
    return tokens


LLAMA2C_TEXTS = [
    b'',
    b'Hello world',
    b'Once upon a time, there was a little girl named Lily.',
    b'  two leading spaces,  double  spaces and a trailing one ',
    b'tabs\tand\nnewlines\n\nparagraph',
    'na\u00efve caf\u00e9 \u2014 \u201cquotes\u201d \U0001F600 \u65e5\u672c\u8a9e \u0645\u0631\u062d\u0628\u0627'.encode(),
    b'<0x41> <s> </s> <unk> \n<s>\n',
    b'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    b'12345 + 678 = 9000; 3.14159',
    b'\xff\xfe abc \x80\x80\x80\x80\x80 x\xc3',  # malformed UTF-8: stray bytes, long continuation run, cut
    b'e\xcc\x81 \xe2\x80\x8b zero-width, \xef\xbb\xbf BOM',
]


def make_llama2c():
    story = tinystories(4000).encode()
    paragraphs = [p for p in story.split(b'\n\n') if p][:3]
    greedy = open(os.path.join(DATA, 'stories260K-greedy200.txt'), 'rb').read()
    texts = LLAMA2C_TEXTS + paragraphs + [greedy]
    out = {'generator': 'scripts/make_tokenizer_goldens.py llama2c (port of llama2.c run.c encode)', 'files': {}}
    for name in ['tok512.bin', 'tokenizer_llama2_32000.bin']:
        _, pieces, scores = read_llama2c(os.path.join(DATA, name))
        cases = []
        for t in texts:
            cases.append({'text_hex': t.hex(), 'ids_with_bos': llama2c_encode(pieces, scores, t, True)})
        out['files'][name] = cases
    write_json('llama2c_goldens.json', out)


# ---------------------------------------------------------------------------------------------------
# Hugging Face byte-level BPE

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                  r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")

# \s under PCRE2 UCP is \p{Z} plus \h and \v: Unicode White_Space and U+180E. Oniguruma (HF) uses
# White_Space; the two agree except for U+180E, which the goldens avoid.
WHITESPACE = set([0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, 0x180E, 0x2028, 0x2029, 0x202F, 0x205F,
                  0x3000] + list(range(0x2000, 0x200B)))


def is_space(c):
    return ord(c) in WHITESPACE or unicodedata.category(c) in ('Zs', 'Zl', 'Zp')


def is_letter(c):
    return unicodedata.category(c).startswith('L')


def is_number(c):
    return unicodedata.category(c).startswith('N')


def is_other(c):  # [^\s\p{L}\p{N}]
    return not (is_space(c) or is_letter(c) or is_number(c))


def run_end(s, i, pred):
    while i < len(s) and pred(s[i]):
        i += 1
    return i


def match_contraction(s, i, caseless):
    if s[i] != "'":
        return None
    for suffix in ('s', 't', 're', 've', 'm', 'll', 'd'):
        cand = s[i + 1:i + 1 + len(suffix)]
        if caseless:
            cand = cand.replace('\u017f', 's').lower()  # (?i) folds LONG S to s as PCRE2 and Oniguruma do
        if cand == suffix:
            return i + 1 + len(suffix)
    return None


def match_trailing_space(s, i):
    """\\s+(?!\\S) then \\s+, at a whitespace character."""
    j = run_end(s, i, is_space)
    if j == len(s) or j - 1 > i:
        return j if j == len(s) else j - 1
    return j


def split_gpt2(s):
    """'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"""
    out, i = [], 0
    while i < len(s):
        j = match_contraction(s, i, False)
        if j is None:
            for pred in (is_letter, is_number, is_other):
                if s[i] == ' ' and i + 1 < len(s) and pred(s[i + 1]):
                    j = run_end(s, i + 1, pred)
                elif pred(s[i]):
                    j = run_end(s, i, pred)
                if j is not None:
                    break
        if j is None:
            j = match_trailing_space(s, i)
        out.append(s[i:j])
        i = j
    return out


def split_llama3(s, max_digits):
    """The Llama-3 (max_digits 3) / Qwen2 (max_digits 1) pattern, alternative by alternative."""
    out, i = [], 0
    crlf = '\r\n'
    while i < len(s):
        c = s[i]
        j = match_contraction(s, i, True)
        # [^\r\n\p{L}\p{N}]?\p{L}+
        if j is None:
            if c not in crlf and not is_letter(c) and not is_number(c) and i + 1 < len(s) and is_letter(s[i + 1]):
                j = run_end(s, i + 1, is_letter)
            elif is_letter(c):
                j = run_end(s, i, is_letter)
        # \p{N}{1,max}
        if j is None and is_number(c):
            j = i + 1
            while j < len(s) and j - i < max_digits and is_number(s[j]):
                j += 1
        #  ?[^\s\p{L}\p{N}]+[\r\n]*
        if j is None:
            if c == ' ' and i + 1 < len(s) and is_other(s[i + 1]):
                j = run_end(s, i + 1, is_other)
            elif is_other(c):
                j = run_end(s, i, is_other)
            if j is not None:
                j = run_end(s, j, lambda x: x in crlf)
        # \s*[\r\n]+ : up to and including the last \r or \n of the whitespace run
        if j is None and is_space(c):
            end = run_end(s, i, is_space)
            last = max((k for k in range(i, end) if s[k] in crlf), default=None)
            if last is not None:
                j = last + 1
        if j is None:
            j = match_trailing_space(s, i)
        out.append(s[i:j])
        i = j
    return out


def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('\u00a1'), ord('\u00ac') + 1)) + \
        list(range(ord('\u00ae'), ord('\u00ff') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_CHAR = bytes_to_unicode()


def to_byte_level(s):
    return ''.join(BYTE_CHAR[b] for b in s.encode('utf-8'))


def train_bpe(words, n_merges):
    """Classic BPE training on byte-level words: merge the most frequent pair, ties by smallest pair."""
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    seqs = {w: list(w) for w in counts}
    merges = []
    for _ in range(n_merges):
        pairs = {}
        for w, seq in seqs.items():
            for a, b in zip(seq, seq[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + counts[w]
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        for w, seq in seqs.items():
            i, new = 0, []
            while i < len(seq):
                if i + 1 < len(seq) and seq[i] == best[0] and seq[i + 1] == best[1]:
                    new.append(seq[i] + seq[i + 1])
                    i += 2
                else:
                    new.append(seq[i])
                    i += 1
            seqs[w] = new
    return merges


MULTILINGUAL = (
    '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3002\u4e2d\u6587\u6587\u672c\u3002\u4e2d\u6587\u7684\u6587\u672c\u3002 '
    'na\u00efve caf\u00e9 r\u00e9sum\u00e9 \u00fcber M\u00fcller \u00e9t\u00e9 '
    '\U0001F600\U0001F600 \U0001F389 \u043f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440 '
    '\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8 ') * 3


def added(id_, content, special=True, lstrip=False, rstrip=False, single_word=False):
    return {'id': id_, 'content': content, 'single_word': single_word, 'lstrip': lstrip, 'rstrip': rstrip,
            'normalized': False, 'special': special}


def byte_level_pre(add_prefix_space, use_regex):
    return {'type': 'ByteLevel', 'add_prefix_space': add_prefix_space, 'trim_offsets': True, 'use_regex': use_regex}


def split_pre(pattern):
    return {'type': 'Split', 'pattern': {'Regex': pattern}, 'behavior': 'Isolated', 'invert': False}


def make_tokenizer_json(vocab, merges, merges_as_pairs, added_tokens, normalizer, pre_tokenizer, post_processor,
                        ignore_merges):
    return {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': added_tokens,
        'normalizer': normalizer,
        'pre_tokenizer': pre_tokenizer,
        'post_processor': post_processor,
        'decoder': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True},
        'model': {
            'type': 'BPE',
            'dropout': None,
            'unk_token': None,
            'continuing_subword_prefix': None,
            'end_of_word_suffix': None,
            'fuse_unk': False,
            'byte_fallback': False,
            'ignore_merges': ignore_merges,
            'vocab': vocab,
            'merges': [[a, b] for a, b in merges] if merges_as_pairs else ['%s %s' % (a, b) for a, b in merges],
        },
    }


class ReferenceBpe:
    """An encoder for the tokenizer.json files above, written from the HF pipeline description."""

    def __init__(self, tj, splitter):
        self.vocab = tj['model']['vocab']
        self.ranks = {}
        for r, m in enumerate(tj['model']['merges']):
            pair = tuple(m) if isinstance(m, list) else tuple(m.split(' '))
            self.ranks.setdefault(pair, r)
        self.ignore_merges = tj['model']['ignore_merges']
        self.added = tj['added_tokens']
        self.nfc = (tj['normalizer'] or {}).get('type') == 'NFC'
        self.splitter = splitter
        self.prefix = []
        pp = tj['post_processor'] or {}
        for proc in pp.get('processors', [pp]):
            if proc.get('type') == 'TemplateProcessing':
                for item in proc['single']:
                    if 'Sequence' in item:
                        break
                    self.prefix += proc['special_tokens'][item['SpecialToken']['id']]['ids']

    def bpe(self, word):
        w = to_byte_level(word)
        if self.ignore_merges and w in self.vocab:
            return [self.vocab[w]]
        syms = list(w)
        while len(syms) > 1:
            best = min(((self.ranks.get(p, float('inf')), p) for p in zip(syms, syms[1:])))
            if best[0] == float('inf'):
                break
            a, b = best[1]
            i, new = 0, []
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    new.append(a + b)
                    i += 2
                else:
                    new.append(syms[i])
                    i += 1
            syms = new
        return [self.vocab[s] for s in syms]

    def segments(self, text):
        """(is_added, id or text) pieces: leftmost-longest added-token matches with lstrip / rstrip."""
        out, start_offset, i = [], 0, 0
        while i < len(text):
            cands = [a for a in self.added if text.startswith(a['content'], i)]
            if not cands:
                i += 1
                continue
            a = max(cands, key=lambda a: len(a['content']))
            start, stop = i, i + len(a['content'])
            i = stop
            if a['lstrip']:
                while start > start_offset and text[start - 1].isspace():
                    start -= 1
            if a['rstrip']:
                while stop < len(text) and text[stop].isspace():
                    stop += 1
                i = stop
            if start_offset < start:
                out.append((False, text[start_offset:start]))
            out.append((True, a['id']))
            start_offset = stop
        if start_offset < len(text):
            out.append((False, text[start_offset:]))
        return out

    def encode(self, text, add_bos):
        ids = list(self.prefix) if add_bos else []
        for is_added, value in self.segments(text):
            if is_added:
                ids.append(value)
                continue
            if self.nfc:
                value = unicodedata.normalize('NFC', value)
            for word in self.splitter(value):
                ids += self.bpe(word)
        return ids


HF_TEXTS = [
    '',
    'Hello world',
    'Once upon a time, there was a little girl named Lily.',
    "It's a test. They're here, we've seen 'em, I'm sure, you'll see, he'd go. IT'S LOUD, WE'LL SEE",
    'Numbers: 1234567 and 3.14159, 2024-01-01, 10000000000',
    '  multiple   spaces\tand\ttabs\n\nnew lines\r\n windows  \n  ',
    '   ',
    '\n',
    'na\u00efve caf\u00e9 r\u00e9sum\u00e9 \u2014 \u201cquotes\u201d \u2018single\u2019... !!! ??',
    '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u4e2d\u6587\u6587\u672c\u3002\ud55c\uad6d\uc5b4',
    'emoji \U0001F600\U0001F389\U0001F44D\U0001F3FD family \U0001F468\u200d\U0001F469\u200d\U0001F467 flags \U0001F1EF\U0001F1F5',
    'NFC: e\u0301 A\u030a \u212b \u1100\u1161\u11a8 a\u0323\u0302 \u0041\u0308\u0304 \u00c5 \uac01',
    'symbols: ++ -- => <= // /* */ #include <vector> $x @y %z ^_^ ~ `code`',
    'mixed\u00a0no-break\u3000ideographic\u2003em space',
    'Roman \u2167 and \u00bd and \u0664\u0665 digits',
    ' supercalifragilistic expialidocious',
    '<|begin_of_text|>Hello<|end_of_text|> x <|eot_id|>',
    '<|im_start|>user\nhi there<|im_end|>\n<|endoftext|>',
    'a <mask> b<sep>   c <|endoftext|><|endoftext|>',
    'partial <|begin_of_tex <|im_en <mas',
]


def make_hf():
    sample = tinystories(60000) + '\n' + MULTILINGUAL
    words = [to_byte_level(w) for w in split_llama3(sample, 3)]
    merges = train_bpe(words, 360)
    vocab = {}
    for b in range(256):
        vocab[BYTE_CHAR[b]] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    n = len(vocab)
    print('hf: %d merges, %d model tokens' % (len(merges), n))

    # Llama-3 style: merges as pairs, ignore_merges with one word that only the vocab (not the merges)
    # reaches, BOS through TemplateProcessing.
    v3 = dict(vocab)
    v3[to_byte_level(' supercalifragilistic')] = len(v3)
    bos = len(v3)
    llama3_added = [added(bos, '<|begin_of_text|>'), added(bos + 1, '<|end_of_text|>'), added(bos + 2, '<|eot_id|>')]
    llama3 = make_tokenizer_json(
        v3, merges, True, llama3_added, None,
        {'type': 'Sequence', 'pretokenizers': [split_pre(LLAMA3_PATTERN), byte_level_pre(False, False)]},
        {'type': 'Sequence', 'processors': [
            {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': False, 'use_regex': True},
            {'type': 'TemplateProcessing',
             'single': [{'SpecialToken': {'id': '<|begin_of_text|>', 'type_id': 0}},
                        {'Sequence': {'id': 'A', 'type_id': 0}}],
             'pair': [{'SpecialToken': {'id': '<|begin_of_text|>', 'type_id': 0}},
                      {'Sequence': {'id': 'A', 'type_id': 0}},
                      {'SpecialToken': {'id': '<|begin_of_text|>', 'type_id': 1}},
                      {'Sequence': {'id': 'B', 'type_id': 1}}],
             'special_tokens': {'<|begin_of_text|>': {'id': '<|begin_of_text|>', 'ids': [bos],
                                                      'tokens': ['<|begin_of_text|>']}}}]},
        True)

    # Qwen2 style: NFC, single digits, merges as "a b" strings, no BOS.
    qwen2_added = [added(n, '<|endoftext|>'), added(n + 1, '<|im_start|>'), added(n + 2, '<|im_end|>')]
    qwen2 = make_tokenizer_json(
        vocab, merges, False, qwen2_added, {'type': 'NFC'},
        {'type': 'Sequence', 'pretokenizers': [split_pre(QWEN2_PATTERN), byte_level_pre(False, False)]},
        {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': False}, False)

    # GPT-2 style: ByteLevel alone with its built-in regex; tokens with lstrip / rstrip.
    gpt2_added = [added(n, '<|endoftext|>'), added(n + 1, '<mask>', lstrip=True),
                  added(n + 2, '<sep>', rstrip=True)]
    gpt2 = make_tokenizer_json(
        vocab, merges, False, gpt2_added, None, byte_level_pre(False, True),
        {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True}, False)

    files = {'hf_llama3.json': (llama3, lambda s: split_llama3(s, 3)),
             'hf_qwen2.json': (qwen2, lambda s: split_llama3(s, 1)),
             'hf_gpt2.json': (gpt2, split_gpt2)}
    story = tinystories(3000)
    texts = HF_TEXTS + [p for p in story.split('\n\n') if p][:2]
    goldens = {'generator': 'scripts/make_tokenizer_goldens.py hf (independent GPT-2-style encoder)', 'files': {}}
    for name, (tj, splitter) in files.items():
        write_json(name, tj, indent=2)
        ref = ReferenceBpe(tj, splitter)
        cases = []
        for t in texts:
            words = splitter(unicodedata.normalize('NFC', t) if ref.nfc else t) if '<|' not in t and '<m' not in t \
                else None
            case = {'text': t, 'ids': ref.encode(t, False), 'ids_with_bos': ref.encode(t, True)}
            if words is not None:
                case['words'] = words
            cases.append(case)
        goldens['files'][name] = cases
    write_json('hf_goldens.json', goldens, indent=1)


# ---------------------------------------------------------------------------------------------------
# NFC


def make_nfc():
    rng = random.Random(1234)
    # Starters that compose, combining marks of several classes (incl. class 0 second halves), Hangul
    # jamo / syllables, singletons (Angstrom, Ohm), composition exclusions, plain ASCII.
    pool = ([0x41, 0x61, 0x45, 0x65, 0x4F, 0x6F, 0x55, 0x75, 0x43, 0x63, 0x53, 0x73, 0x20, 0x2E] +
            [0x300, 0x301, 0x302, 0x303, 0x308, 0x30A, 0x323, 0x327, 0x328, 0x331, 0x345, 0x344, 0x340, 0x34F,
             0x5B0, 0x05C1, 0x0951] +
            [0x1100, 0x1161, 0x11A8, 0x11C2, 0x1175, 0xAC00, 0xAC01, 0xD7A3, 0x1112] +
            [0x212B, 0x2126, 0x212A, 0x00C5, 0x00C7, 0x1E0A, 0x1E0C, 0x0958, 0x2ADC, 0xFB1D, 0x0F73, 0x0F75] +
            [0x0915, 0x093C, 0x09C7, 0x09BE, 0x0B47, 0x0B3E, 0x0DD9, 0x0DCF, 0x0DDF, 0x1025, 0x102E, 0x3099,
             0x304B, 0x309A, 0x30CF, 0x1D15E, 0x1D165, 0x1F600, 0x4E2D])
    cases = []
    for k in range(400):
        s = ''.join(chr(rng.choice(pool)) for _ in range(rng.randint(1, 12)))
        cases.append({'in': s, 'nfc': unicodedata.normalize('NFC', s)})
    for s in ['', 'plain ascii', 'e\u0301', '\u1100\u1161\u11a8', 'a\u0323\u0302', '\u212b\u2126',
              '\u0958', 'q\u0307\u0323', '\u1e9b\u0323', '\u0f73', 'A\u0328\u0301', 'caf\u00e9']:
        cases.append({'in': s, 'nfc': unicodedata.normalize('NFC', s)})
    write_json('nfc_goldens.json', {'unicode_version': unicodedata.unidata_version, 'cases': cases})


# ---------------------------------------------------------------------------------------------------
# SentencePiece

SP_TEXTS = [
    'Hello world',
    'Once upon a time, there was a little girl named Lily.',
    '  two leading spaces,  double  spaces and a trailing one ',
    'Numbers 1234567 and 3.14159',
    'na\u00efve caf\u00e9 \u2014 \u201cquotes\u201d \U0001F600',
    '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \u4e2d\u6587 \ud55c\uad6d\uc5b4 \u043f\u0440\u0438\u0432\u0435\u0442',
    'tab\tseparated\tvalues',
    'She said, "Wow, Kitty, your car is so bright and clean!"',
    'x',
]


def make_sp(retrain):
    model = os.path.join(FIXTURES, 'sp_bpe500.model')
    for tool in ('spm_train', 'spm_encode'):
        if shutil.which(tool) is None:
            sys.exit('%s not found: apt-get install sentencepiece' % tool)
    if retrain or not os.path.exists(model):
        with tempfile.TemporaryDirectory() as tmp:
            corpus = os.path.join(tmp, 'corpus.txt')
            with open(corpus, 'w', encoding='utf-8') as f:
                f.write(tinystories(300000).replace('\n\n', '\n'))
            # Llama-2's settings in small: BPE, byte fallback, identity normalization (keeps the model
            # small), dummy prefix, whitespace kept, digits split.
            # Relative paths: the model records its training input, and a temp dir name would make
            # every retraining differ in those bytes.
            subprocess.run(['spm_train', '--input=corpus.txt', '--model_prefix=sp', '--minloglevel=1',
                            '--vocab_size=500', '--model_type=bpe', '--byte_fallback=true',
                            '--character_coverage=1.0', '--normalization_rule_name=identity',
                            '--remove_extra_whitespaces=false', '--split_digits=true', '--num_threads=1',
                            '--unk_id=0', '--bos_id=1', '--eos_id=2', '--pad_id=-1'],
                           check=True, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            shutil.copy(os.path.join(tmp, 'sp.model'), model)
        print('trained', os.path.relpath(model, ROOT))
    story = [p for p in tinystories(3000).split('\n\n') if p][:2]
    texts = SP_TEXTS + story
    feed = '\n'.join(texts) + '\n'

    def spm(fmt):
        r = subprocess.run(['spm_encode', '--model=' + model, '--output_format=' + fmt], input=feed.encode(),
                           check=True, capture_output=True)
        return r.stdout.decode('utf-8').split('\n')[:len(texts)]

    ids, pieces = spm('id'), spm('piece')
    cases = [{'text': t, 'ids': [int(x) for x in i.split()], 'pieces': p.split(' ')}
             for t, i, p in zip(texts, ids, pieces)]
    write_json('sp_goldens.json', {'generator': 'spm_encode --output_format=id (sentencepiece CLI)',
                                   'model': 'sp_bpe500.model', 'cases': cases}, indent=1)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    parts = args or ['llama2c', 'hf', 'nfc', 'sp']
    os.makedirs(FIXTURES, exist_ok=True)
    if 'llama2c' in parts:
        make_llama2c()
    if 'hf' in parts:
        make_hf()
    if 'nfc' in parts:
        make_nfc()
    if 'sp' in parts:
        make_sp('--retrain' in sys.argv)


if __name__ == '__main__':
    main()
