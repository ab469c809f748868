/* test-expr: the {{ }} template engine: every operator, filter, function, tag, and the errors users see. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
/* the case table leaves trailing fields (error position, return code) out when they do not matter */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <string.h>
#include <time.h>

#include "cleanup-jansson.h"
#include "expr.h"
#include "strbuf.h"
#include "strutil.h"
#include "tap.h"
#include "user-regex.h"

/* 2024-03-15T10:20:30.123456Z */
#define PINNED_NOW ((usec_t) 1710498030123456ULL)

static const char *const base_vars =
        "{\"name\": \"World\", \"n\": 5, \"f\": 1.5, \"neg\": -3, \"t\": true, \"nul\": null,"
        " \"list\": [1, 2, 3], \"strs\": [\"b\", \"a\", \"c\"], \"map\": {\"a\": 1, \"b\": \"two\"},"
        " \"outputs\": {\"task1\": {\"value\": \"v1\", \"items\": [10, 20]},"
        "               \"each\": {\"v1\": {\"v2\": {\"value\": \"deep\"}}}},"
        " \"inputs\": {\"from-parent\": \"fp\", \"empty\": \"\", \"json\": \"{\\\"meta\\\": {\\\"next_token\\\": \\\"t1\\\"}}\"},"
        " \"taskrun\": {\"value\": \"v2\", \"attemptsCount\": 1},"
        " \"parents\": [{\"taskrun\": {\"value\": \"v1\"}}],"
        " \"date\": \"2024-03-15T10:20:30.123456Z\", \"html\": \"a b&c\","
        " \"json\": \"{\\\"a\\\": {\\\"b\\\": [1, 2]}}\", \"text\": \"line1\\nline2\","
        " \"tpl\": \"{{ name }}!\", \"selfref\": \"{{ render(selfref) }}\", \"tpl2\": \"{{ tpl }} again\","
        /* Kestra's own test values (FlattenFilterTest, YamlFunctionTest, RenderOnceFunctionTest) */
        " \"nested\": [\"You're doing great!\", \"Sending positive vibes\", [\"You're awesome!\", \"Keep shining!\"], \"Believe\"],"
        " \"second\": {\"string\": \"string\", \"int\": 1, \"float\": 1.123, \"list\": [\"string\", 1, 1.123], \"bool\": true,"
        "             \"map\": {\"string\": \"string\", \"int\": 1, \"float\": 1.123}},"
        " \"yamltext\": \"# comment\\nstring: string\\nint: 123\\nbool: true\\nfloat: 1.23\\ninstant: \\\"1918-02-24T00:00:00Z\\\"\\n"
        "date: \\\"1991-08-20\\\"\\ntime: \\\"23:59:59\\\"\\n'null':\\nobject:\\n  key: \\\"value\\\"\\n  child:\\n    key: \\\"value\\\"\\n"
        "array:\\n  - string\\nreference: &ref\\n    key: reference\\ndefault: *ref\\n\","
        " \"input\": \"{{someOtherVar}}\", \"someOtherVar\": \"{{yetAnotherVar}}\", \"yetAnotherVar\": \"test\"}";

typedef struct Case {
        const char *tmpl;
        const char *expected; /* rendered output, or NULL when an error is expected */
        const char *error;    /* substring of the error message */
        int r;                /* expected return for errors (0 = -EINVAL) */
        unsigned line, column; /* error position (0 = not checked) */
} Case;

static const Case cases[] = {
        /* printing values */
        { "Hello {{ name }}!", "Hello World!" },
        { "{{name}}", "World" },
        { "{{ 42 }}", "42" },
        { "{{ 1.5 }}", "1.5" },
        { "{{ 2.0 }}", "2.0" },
        { "{{ 10000000.0 }}", "1.0E7" },
        { "{{ 0.001 }}", "0.001" },
        { "{{ 0.0001 }}", "1.0E-4" },
        { "{{ 1.0 / 3 }}", "0.3333333333333333" },
        { "{{ 0.1 + 0.2 }}", "0.30000000000000004" },
        { "{{ true }}/{{ false }}", "true/false" },
        { "[{{ nul }}][{{ null }}]", "[][]" },
        { "{{ list }}", "[1,2,3]" },
        { "{{ map }}", "{\"a\":1,\"b\":\"two\"}" },
        { "{{ [1, 'a', [true, null], 2.5] }}", "[1,\"a\",[true,null],2.5]" },
        { "{{ {'k': 1, \"j\": [2]} }}", "{\"k\":1,\"j\":[2]}" },
        { "{{ 'a\\'b' }}|{{ \"x\\ty\" }}|{{ 'q\"' }}", "a'b|x\ty|q\"" },
        { "{{ '\\u00e9' }}", "\xc3\xa9" },
        { "no tags at all", "no tags at all" },
        { "", "" },
        { "{ not a tag } {x}", "{ not a tag } {x}" },

        /* variable access */
        { "{{ map.a }}{{ map['b'] }}", "1two" },
        { "{{ list[0] }}{{ list[-1] }}{{ list.1 }}", "132" },
        { "{{ inputs['from-parent'] }}", "fp" },
        { "{{ outputs.task1.items[1] }}", "20" },
        { "{{ outputs['each'][parents[0].taskrun.value][taskrun.value].value }}", "deep" },
        { "{{ list.size }}", "3" },

        /* arithmetic */
        { "{{ 1 + 2 * 3 }}", "7" },
        { "{{ (1 + 2) * 3 }}", "9" },
        { "{{ 7 / 2 }}", "3" },
        { "{{ -7 / 2 }}", "-3" },
        { "{{ 7.0 / 2 }}", "3.5" },
        { "{{ 7 % 3 }}/{{ -7 % 3 }}", "1/-1" },
        { "{{ 5.5 % 2 }}", "1.5" },
        { "{{ -n }}/{{ +n }}/{{ 2 - -1 }}", "-5/5/3" },
        { "{{ n * f }}", "7.5" },
        { "{{ 10 - 2 - 3 }}", "5" },
        { "{{ 'a' ~ 1 ~ true ~ nul ~ 2.0 }}", "a1true2.0" },
        { "{{ 'a' + 'b' }}{{ 'n' + 1 }}", "abn1" },
        { "{{ list + [4] }}{{ list + 5 }}", "[1,2,3,4][1,2,3,5]" },
        { "{{ 1..3 }}{{ 3..1 }}", "[1,2,3][]" },

        /* comparison and logic */
        { "{{ 1 == 1.0 }}{{ 'a' != 'b' }}{{ '1' == 1 }}", "truetruefalse" },
        { "{{ 2 < 3 }}{{ 3 <= 3 }}{{ 4 > 5 }}{{ 'b' >= 'a' }}{{ 1.5 > 1 }}", "truetruefalsetruetrue" },
        { "{{ n equals 5 }}{{ map == {'a': 1, 'b': 'two'} }}{{ nul == null }}", "truetruetrue" },
        { "{{ true and false }}{{ false or true }}{{ not t }}", "falsetruefalse" },
        { "{{ not false and false }}", "true" }, /* Pebble: not binds looser than and */
        { "{{ false and missing }}{{ true or missing }}", "falsetrue" },
        { "{{ 1 + 1 == 2 and 'x' ~ 'y' == 'xy' }}", "true" },
        { "{{ list contains 2 }}{{ list contains 9 }}{{ list contains [1, 3] }}", "truefalsetrue" },
        { "{{ map contains 'a' }}{{ name contains 'orl' }}", "truetrue" },

        /* conditional and coalescing */
        { "{{ n > 3 ? 'big' : 'small' }}", "big" },
        { "{{ n > 9 ? 'big' : n > 4 ? 'mid' : 'small' }}", "mid" },
        { "{{ taskrun.attemptsCount == 1 ? 'ok' : ko }}", "ok" },
        { "{{ missing ?? 'd' }}|{{ nul ?? 'd' }}|{{ name ?? 'd' }}", "d|d|World" },
        { "[{{ nul ??? 'd' }}]{{ missing ??? 'd' }}", "[]d" },
        { "{{ outputs.nope.value ?? outputs.task1.value }}", "v1" },
        { "{{ missing.a.b[0] ?? 'deep' }}", "deep" },
        { "{{ (outputs.state.data.value ?? 0) == 0 ? 'create' : 'update' }}", "create" },
        { "{{ missing ?? nul ?? 'last' }}", "last" },
        { "{{ 'x' ~ missing ?? 'y' }}", "xy" },

        /* tests */
        { "{{ nul is null }}{{ missing is null }}{{ n is not null }}", "truetruetrue" },
        { "{{ missing is defined }}{{ name is defined }}{{ map.zz is not defined }}", "falsetruetrue" },
        { "{{ list is not empty }}{{ '' is empty }}{{ {} is empty }}", "truetruetrue" },
        { "{{ 4 is even }}{{ 3 is odd }}{{ 3 is even }}", "truetruefalse" },
        { "{{ 9 is divisibleBy(3) }}{{ map is map }}{{ list is iterable }}", "truetruetrue" },
        { "{{ name is startsWith('Wo') }}", "true" },

        /* string filters */
        { "{{ name | upper }}{{ name | lower }}", "WORLDworld" },
        { "{{ 'hello world' | capitalize }}|{{ 'hello big world' | title }}", "Hello world|Hello Big World" },
        { "[{{ '  x y \n' | trim }}]", "[x y]" },
        { "{{ 'a-b-c' | replace({'-': '+', 'a': 'A'}) }}", "A+b+c" },
        { "{{ 'aaa' | replace('a', 'bb') }}", "bbbbbb" },
        { "{{ 'a1b22' | replace('[0-9]+', '#', regexp=true) }}", "a#b#" },
        /* Java's replaceAll(): $n in the replacement is group n, \\$ a dollar, \\d a digit */
        { "{{ 'a1b22' | replace('([a-z])([0-9]+)', '<$2$1>', regexp=true) }}", "<1a><22b>" },
        { "{{ 'a1b22' | replace('\\\\d+', '#', regexp=true) }}", "a#b#" },
        { "{{ 'abc' | replace('(b)', '[$10]', regexp=true) }}", "a[b0]c" },
        { "{{ 'abc' | replace('(x)?b', '[$1]', regexp=true) }}", "a[]c" },
        { "{{ 'abc' | replace('b', '\\\\$0\\\\\\\\', regexp=true) }}", "a$0\\c" },
        { "{{ 'abc' | replace('b', '$0$0', regexp=true) }}", "abbc" },
        { "{{ 'a$b' | replace('$', '!', regexp=false) }}", "a!b" },
        { "{{ 'abc' | replace('x', '$', regexp=true) }}", "abc" },
        { "{{ 'a,b,,c,,' | split(',') }}", "[\"a\",\"b\",\"\",\"c\"]" },
        { "{{ 'a,b,c' | split(',', 2) }}", "[\"a\",\"b,c\"]" },
        { "{{ 'a::b' | split(delimiter='::') }}", "[\"a\",\"b\"]" },
        { "{{ strs | join(', ') }}|{{ list | join }}", "b, a, c|123" },
        { "{{ 'a.b.c' | substringBefore('.') }} {{ 'a.b.c' | substringAfter('.') }}", "a b.c" },
        { "{{ 'a.b.c' | substringBeforeLast('.') }} {{ 'a.b.c' | substringAfterLast('.') }}", "a.b c" },
        { "{{ 'abc' | substringBefore('x') }}[{{ 'abc' | substringAfter('x') }}]", "abc[]" },
        { "{{ name | startsWith('Wo') }}{{ name | endsWith('x') }}", "truefalse" },
        { "{{ text | indent(2) }}", "line1\n  line2" },
        { "{{ text | nindent(2) }}", "\n  line1\n  line2" },
        { "{{ text | indent(1, '> ') }}", "line1\n> line2" },
        { "{{ html | urlencode }}|{{ 'a+b%26c%C3%A9' | urldecode }}", "a+b%26c|a b&c\xc3\xa9" },
        { "{{ 'hello' | base64encode }}|{{ 'aGVsbG8=' | base64decode }}|{{ '' | base64encode }}", "aGVsbG8=|hello|" },
        { "{{ 'hello' | md5 }}", "5d41402abc4b2a76b9719d911017c592" },
        { "{{ 'hello' | sha1 }}", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d" },
        { "{{ 'hello' | sha256 }}", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" },
        { "{{ 'hello' | sha512 }}",
          "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043" },
        { "{{ 'abcdefghij' | abbreviate(6) }}|{{ 'abc' | abbreviate(6) }}", "abc...|abc" },
        { "{{ 'Hello, World!  Foo_bar' | slugify }}", "hello-world-foo-bar" },
        { "{{ 12 | string ~ '' }}{{ name | length }}{{ '\xc3\xa9t\xc3\xa9' | length }}", "1253" },
        { "{{ name | className }} {{ 1 | className }} {{ list | className }}", "java.lang.String java.lang.Integer java.util.ArrayList" },

        /* collection filters */
        { "{{ list | first }}{{ list | last }}{{ 'abc' | first }}{{ 'abc' | last }}", "13ac" },
        { "{{ list | length }}{{ map | length }}{{ nul | length }}", "320" },
        { "{{ strs | sort }}|{{ [3, 1.5, 2] | sort }}", "[\"a\",\"b\",\"c\"]|[1.5,2,3]" },
        { "{{ list | reverse }}{{ 'abc' | reverse }}", "[3,2,1]cba" },
        { "{{ list | slice(1, 3) }}{{ 'hello' | slice(1, 3) }}{{ list | slice(2) }}", "[2,3]el[3]" },
        { "{{ map | merge({'c': 3, 'a': 0}) }}", "{\"a\":0,\"b\":\"two\",\"c\":3}" },
        { "{{ list | merge([4]) }}", "[1,2,3,4]" },
        { "{{ map | keys }}{{ map | values }}", "[\"a\",\"b\"][1,\"two\"]" },

        /* default */
        { "{{ missing | default('dft') }}", "dft" },
        { "{{ '' | default('e') }}{{ nul | default('n') }}{{ name | default('x') }}", "enWorld" },
        { "{{ outputs.missing.deep | default('d') }}", "d" },
        { "{{ map.zz | default(map.a) }}", "1" },

        /* numbers */
        { "{{ neg | abs }}{{ -2.5 | abs }}", "32.5" },
        { "{{ '42' | number + 1 }}", "43" },
        { "{{ '3.5' | number }}|{{ '7' | number('FLOAT') }}|{{ 7.9 | number('INT') }}", "3.5|7.0|7" },
        { "{{ 2.567 | round(2) }}|{{ 2.5 | round }}|{{ -2.5 | round }}|{{ 3 | round }}", "2.57|3|-3|3" },
        { "{{ 1234567.891 | numberFormat('#,##0.00') }}|{{ 3.1 | numberFormat('0.###') }}", "1,234,567.89|3.1" },

        /* JSON */
        { "{{ map | toJson }}|{{ 'x\"y' | json }}|{{ 1.0 | toJson }}", "{\"a\":1,\"b\":\"two\"}|\"x\\\"y\"|1.0" },
        { "{{ (json | fromJson).a.b[1] }}", "2" },
        { "{{ fromJson('[1, {\"x\": true}]')[1].x }}{{ json('{\"a\": 2}').a }}", "true2" },
        { "{{ json | jq('.a.b[0]') }}|{{ map | jq('.b') | first }}|{{ json | jq('.a.b[]') }}", "[1]|two|[1,2]" },
        { "{{ map | jq('.') }}{{ map | jq('.zz') }}", "[{\"a\":1,\"b\":\"two\"}][null]" },
        /* jq is libjq's: the whole language (Kestra's JqFilterTest, and a public blueprint) */
        { "{{ inputs.json | jq('.meta | has(\"next_token\")') | first }}", "true" },
        { "{{ [1, 2, 3] | jq(\".[0]\") | first }}|{{ {'test': [1, 2, 3]} | jq('.test[0]') }}", "1|[1]" },
        { "{{ second | jq('.string') }}|{{ second | jq('.float') | first }}|{{ second | jq('.list') | first }}",
          "[\"string\"]|1.123|[\"string\",1,1.123]" },
        { "{{ second | jq('.map') | first }}", "{\"string\":\"string\",\"int\":1,\"float\":1.123}" },
        { "{{ second | jq('.int') | first | className }}|{{ second | jq('.bool') | first }}", "java.lang.Integer|true" },
        { "{% set object = second | jq('.map') %}{{ object[0].int }}", "1" },
        { "{{ list | jq('map(. * 10) | add') | first }}|{{ list | jq('.[] | select(. > 1)') }}", "60|[2,3]" },
        { "{{ strs | jq('sort | join(\"-\")') | first }}|{{ map | jq('to_entries | map(.key)') | first }}", "a-b-c|[\"a\",\"b\"]" },
        { "{{ list | jq('empty') }}|{{ nul | jq('.') }}|{{ list | jq('  ') | first }}", "[]||[1,2,3]" },
        { "{{ list | jq('env') }}|{{ list | jq('$ENV') }}|{{ list | jq('[inputs]') }}", "[{}]|[null]|[[]]" },

        /* Kestra's filters (ChunkFilterTest, EscapeCharFilterTest, FlattenFilterTest, YamlFilterTest, ToIonFilterTest) */
        { "{{ [1, 2, 3, 4, 5, 6, 7, 8, 9] | chunk(2) }}|{{ [] | chunk(3) }}|{{ list | chunk(5) }}", "[[1,2],[3,4],[5,6],[7,8],[9]]|[]|[[1,2,3]]" },
        { "{{ \"L'eau c'est la vie\" | escapeChar('single') }}", "L\\'eau c\\'est la vie" },
        { "{{ '\"Hello\"' | escapeChar('double') }}", "\\\"Hello\\\"" },
        { "{{ \"L'eau c'est la vie\" | escapeChar('shell') }}", "L'\\''eau c'\\''est la vie" },
        { "[{{ '' | escapeChar('single') }}{{ '' | escapeChar('DOUBLE') }}{{ '' | escapeChar('shell') }}]", "[]" },
        { "{{ {'a': \"it's\", 'b': [1, \"x'y\"]} | escapeChar('single') }}", "{\"a\":\"it\\\\'s\",\"b\":[\"1\",\"x\\\\'y\"]}" },
        { "{{ nested | flatten | first }}|{{ nested | flatten | length }}|{{ [[1, [2]], 3] | flatten }}", "You're doing great!|5|[1,[2],3]" },
        { "{{ second.string | yaml }}|{{ second.int | yaml }}|{{ second.float | yaml }}|{{ second.bool | yaml }}",
          "string\n|1\n|1.123\n|true\n" },
        { "{{ second.list | yaml }}", " - string\n - 1\n - 1.123\n" },
        { "{{ second.map | yaml }}", "string: string\nint: 1\nfloat: 1.123\n" },
        { "{{ {'a': {'b': [1, {'c': 'x', 'd': [true]}], 'e': {}}, 'f': []} | yaml }}",
          "a:\n  b:\n   - 1\n   - c: x\n     d:\n      - true\n  e: {}\nf: []\n" },
        { "{{ ['true', '12', '', 'a: b', '- x', \"it's\", null, [[1, 2], 3]] | yaml }}",
          " - \"true\"\n - \"12\"\n - \"\"\n - \"a: b\"\n - \"- x\"\n - it's\n - null\n - - - 1\n     - 2\n   - 3\n" },
        { "{% set v = {'a': [[1, {'b': 'x: y', 'c': [[]]}], 'l1\\nl2'], 'd': {'e': {'f': null}}, '': ' lead'} %}{{ yaml(v | yaml) == v }}",
          "true" },
        { "{{ {'script': 'line 1\\nline 2\\n'} | yaml }}{{ null | yaml }}", "script: |\n  line 1\n  line 2\nnull" },
        { "{{ second.string | toIon }}|{{ second.int | toIon }}|{{ second.float | toIon }}|{{ second.bool | toIon }}",
          "\"string\"|1|1.123e0|true" },
        { "{{ second.list | toIon }}|{{ second.map | toIon }}", "[\"string\",1,1.123e0]|{string:\"string\",int:1,float:1.123e0}" },
        { "{{ {\"empty_object\":{}} | toIon }}|{{ null | toIon }}|{{ {'a b': 2.0, 'null': 100000000000000000000.0} | toIon }}",
          "{empty_object:{}}|null|{'a b':2e0,'null':1.0e20}" },
        /* Pebble's escape, raw and rsort */
        { "{{ '<a href=\"x\">Tom & Jerry\\'s</a>' | escape }}", "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;" },
        { "{{ 'a\"b\\'c\\n\u00e9</x>' | escape('js') }}", "a\\\"b\\'c\\n\\xE9<\\/x>" },
        { "{{ 'a\"b\\'c\\n\u00e9\u20ac' | escape(strategy='json') }}", "a\\\"b'c\\n\\u00E9\\u20AC" },
        { "{{ 'a b&c=d/e?\u00e9' | escape('url_param') }}", "a%20b%26c%3Dd/e?%C3%A9" },
        { "{{ 'a b#1' | escape('css') }}|{{ '1a' | escape('css') }}", "a\\ b\\#1|\\31 a" },
        { "{{ '<b>' | raw }}|{{ 5 | raw }}|{{ nul | escape }}", "<b>|5|" },
        { "{{ [3, 1, 2] | rsort }}|{{ strs | rsort }}|{{ [1, 2, 1, 3, 2] | distinct }}", "[3,2,1]|[\"c\",\"b\",\"a\"]|[1,2,3]" },
        /* Kestra's json test */
        { "{{ '{\"a\": 1}' is json }}|{{ '[1]' is json }}|{{ map is json }}|{{ list is json }}", "true|true|true|true" },
        { "{{ 'abc' is json }}|{{ 'abc' is not json }}|{{ 1 is json }}|{{ nul is json }}", "false|true|false|false" },

        /* Kestra's functions (YamlFunctionTest, FromIonFunctionTest, RenderOncerFunctionTest, RandomIntFunctionTest, ...) */
        { "{{ yaml(yamltext).string }}|{{ yaml(yamltext).int }}|{{ yaml(yamltext).bool }}|{{ yaml(yamltext).float }}",
          "string|123|true|1.23" },
        { "{{ yaml(yamltext).instant }}|{{ yaml(yamltext).date }}|{{ yaml(yamltext).time }}", "1918-02-24T00:00:00Z|1991-08-20|23:59:59" },
        { "{{ yaml(yamltext).object.child.key }}|{{ yaml(yamltext).array[0] }}|{{ yaml(yamltext).default.key }}", "value|string|reference" },
        { "{{ yaml('[a, 1]') }}|{{ yaml(second | yaml) == second }}", "[\"a\",1]|true" },
        { "{{ fromIon('{date:2024-04-21T23:00:00.000Z, title:\"Main_Page\",views:109787}').title }}|[{{ fromIon(null) }}]", "Main_Page|[]" },
        { "{{ fromIon('{id:0,name:\"john\"}\\n{id:1,name:\"john\"}', allRows=true) }}|{{ fromIon('{id:0}\\n{id:1}') }}",
          "[{\"id\":0,\"name\":\"john\"},{\"id\":1,\"name\":\"john\"}]|{\"id\":0}" },
        { "{{ fromIon(\"ZonedDateTime::'2024-01-02T03:04:05Z' // c\\n\") }}|{{ fromIon('[1.5, 2e0, 0x10, null.int, sym, \\'q s\\', (a b)]') }}",
          "2024-01-02T03:04:05Z|[1.5,2.0,16,null,\"sym\",\"q s\",[\"a\",\"b\"]]" },
        { "{{ fromIon(second | toIon) == second }}", "true" },
        { "{{ renderOnce(input) }}|{{ render(input) }}|{{ renderOnce('plain') }}", "{{yetAnotherVar}}|test|plain" },
        { "{{ randomInt(10, 10) }}|{{ randomInt(-10, -9) }}", "10|-10" },
        { "{% set r = randomInt(1, 10) %}{{ r >= 1 and r < 10 }}|{{ randomPort() > 0 }}|{{ id() | length }}", "true|true|22" },
        { "{{ (fetchContext() | fromJson).name }}|{{ (printContext() | fromJson).n }}", "World|5" },

        /* macros and the filter tag */
        { "{% macro greet(who, greeting='Hello') %}{{ greeting }}, {{ who }}!{% endmacro %}{{ greet('Bob') }} {{ greet('Ann', greeting='Hi') }}",
          "Hello, Bob! Hi, Ann!" },
        { "{{ later(1) }}{% macro later(x) %}[{{ x }}|{{ name ?? 'no context' }}]{% endmacro %}", "[1|no context]" },
        { "{% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * (fact(k - 1) | number) }}{% endif %}{% endmacro %}{{ fact(5) }}", "120" },
        { "{% macro m(a, b) %}{{ a }}-{{ b }}{% endmacro %}{{ m(b=2, a=1) }}|{{ m(1) }}|{{ m(name) }}", "1-2|1-|World-" },
        { "{% filter upper %}hello {{ name }}{% endfilter %}!", "HELLO WORLD!" },
        { "{% filter lower | replace({'w': 'W'}) %}HELLO {% for x in list %}{{ x }}{% endfor %} WORLD{% endfilter %}", "hello 123 World" },

        /* dates */
        { "{{ date | date('yyyy-MM-dd HH:mm:ss.SSS') }}", "2024-03-15 10:20:30.123" },
        { "{{ date | date }}|{{ date | date('iso_sec') }}", "2024-03-15T10:20:30.123456Z|2024-03-15T10:20:30Z" },
        { "{{ date | date('yyyy-MM-dd HH:mm XXX', timeZone='-11:00') }}", "2024-03-14 23:20 -11:00" },
        { "{{ date | date(\"yyyy-MM-dd'T'HH:mm:ssX\", timeZone='UTC') }}", "2024-03-15T10:20:30Z" },
        { "{{ '2024-03-15T10:20:30+02:00' | date('HH:mm XXX') }}", "10:20 +02:00" },
        { "{{ '2024-03-15' | date('EEEE d MMMM yy, D') }}", "Friday 15 March 24, 75" },
        { "{{ 0 | date('EEE d MMM yyyy h a') }}", "Thu 1 Jan 1970 12 AM" },
        { "{{ 'July 24, 2001' | date('yyyy-MM-dd', existingFormat='MMMM dd, yyyy') }}", "2001-07-24" },
        { "{{ '24/07/2001 13:05' | date('iso_sec', existingFormat='dd/MM/yyyy HH:mm') }}", "2001-07-24T13:05:00Z" },
        { "{{ '2024-01-31T00:00:00Z' | dateAdd(1, 'MONTHS') | date('yyyy-MM-dd') }}", "2024-02-29" },
        { "{{ date | dateAdd(-1, 'DAYS') }}", "2024-03-14T10:20:30.123456Z" },
        { "{{ date | dateAdd(90, 'MINUTES', format='HH:mm') }}", "11:50" },
        { "{{ date | timestamp }} {{ date | timestampMilli }} {{ date | timestampMicro }}",
          "1710498030 1710498030123 1710498030123456" },

        /* functions */
        { "{{ now() }}", "2024-03-15T10:20:30.123Z" },
        { "{{ now(timeZone='+01:00') }}", "2024-03-15T11:20:30.123456+01:00" },
        { "{{ now() | date('yyyy') }}", "2024" },
        { "{{ range(1, 5, 2) }}{{ range(3, 1, -1) }}", "[1,3,5][3,2,1]" },
        { "{{ max(1, 5, 3) }}{{ min([4, 2]) }}{{ max('a', 'b') }}", "52b" },
        { "{{ uuid() | length }}", "36" },
        { "{{ render(tpl) }}|{{ render('plain') }}|{{ render(42) }}", "World!|plain|42" },
        { "{{ render(tpl2) }}", "World! again" }, /* recursive: tpl2 -> "{{ name }}! again" -> rendered again */
        { "{{ render(tpl2, recursive=false) }}", "{{ name }}! again" },
        { "{{ secret('my_secret') }}", "s3cr3t" },
        { "{{ json(secret('json_secret')).secretKey }}", "v" },
        { "{{ kv('my-key').field }}", "from-kv" },
        { "{{ currentEachOutput(outputs.each).value }}", "deep" },

        /* tags */
        { "{% if n > 3 %}big{% else %}small{% endif %}", "big" },
        { "{% if n > 9 %}a{% elseif n > 4 %}b{% elseif true %}c{% else %}d{% endif %}", "b" },
        { "{% if nul %}a{% endif %}{% if '' %}b{% endif %}{% if list %}c{% endif %}", "c" },
        { "{% for x in list %}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}", "1,2,3" },
        { "{% for x in strs %}{{ loop.index }}{{ loop.first }}{{ loop.length }} {% endfor %}", "0true3 1false3 2false3 " },
        { "{% for x in [] %}a{% else %}empty{% endfor %}{% for x in nul %}a{% else %}none{% endfor %}", "emptynone" },
        { "{% for e in map %}{{ e.key }}={{ e.value }};{% endfor %}", "a=1;b=two;" },
        { "{% for k, v in map %}{{ k }}:{{ v }} {% endfor %}", "a:1 b:two " },
        { "{% for i, v in strs %}{{ i }}{{ v }}{% endfor %}", "0b1a2c" },
        { "{% for x in 1..3 %}{% for y in range(1, x) %}{{ y }}{% endfor %};{% endfor %}", "1;12;123;" },
        { "{% set x = n * 2 %}{{ x }}{% set x = x + 1 %}{{ x }}", "1011" },
        { "{% set name = 'shadow' %}{{ name }}", "shadow" },
        { "{% for x in list %}{% set y = x %}{% endfor %}{{ y ?? 'scoped' }}", "scoped" },
        { "{% raw %}{{ not rendered }} {% if %}{% endraw %}", "{{ not rendered }} {% if %}" },
        { "a{# a comment {{ x }} #}b", "ab" },
        { "a  {{- name -}}  b", "aWorldb" },
        { "{% for x in list -%}\n  {{ x }}\n{%- endfor %}", "123" },
        { "x\n{%- if true -%}\n y \n{%- endif -%}\n z", "xyz" },
        { "{{ 'ok' }}{% if true %}{% endif %}", "ok" },
        { "{{ {'a': {'b': 1}} }}", "{\"a\":{\"b\":1}}" },

        /* errors: undefined values */
        { "{{ missing }}", NULL, "Unable to find `missing` used in the expression `{{ missing }}` at line 1, column 4", 0, 1, 4 },
        { "line1\n  {{ map.nope }}", NULL, "Unable to find `map.nope` used in the expression `{{ map.nope }}` at line 2", 0, 2, 0 },
        { "{{ outputs['task1'].items[5] }}", NULL, "Unable to find `outputs['task1'].items[5]`" },
        { "{{ n > 1 ? ko : 'x' }}", NULL, "Unable to find `ko`" },
        { "{{ missing | upper }}", NULL, "Unable to find `missing`" },
        { "{% for x in missing %}{% endfor %}", NULL, "Unable to find `missing` used in the expression `{% for x in missing %}`" },
        /* errors: types and arithmetic */
        { "{{ 1 / 0 }}", NULL, "Division by zero in the expression `{{ 1 / 0 }}` at line 1, column 6", 0, 1, 6 },
        { "{{ 1 % 0 }}{{ 1.5 / 0 }}", NULL, "Division by zero" },
        { "{{ 'a' - 1 }}", NULL, "Operator `-` needs numbers, got string and integer" },
        { "{{ 9223372036854775807 + 1 }}", NULL, "Integer overflow", -ERANGE },
        { "{{ list < 1 }}", NULL, "Cannot compare a list with a integer" },
        { "{{ name.first }}", NULL, "Cannot read `first` of a string" },
        { "{% for x in 'abc' %}{% endfor %}", NULL, "Cannot iterate over a string" },
        { "{{ 1 .. 'a' }}", NULL, "Range `..` needs integers" },
        /* errors: filters, functions, tests */
        { "{{ name | uper }}", NULL, "Unknown filter `uper`, did you mean `upper`? in the expression `{{ name | uper }}` at line 1, column 11", 0, 1, 11 },
        { "{{ name | frobnicate }}", NULL, "Unknown filter `frobnicate` in the expression" },
        { "{{ nosuch() }}", NULL, "Unknown function `nosuch`" },
        { "{{ rnage(1, 2) }}", NULL, "Unknown function `rnage`, did you mean `range`?" },
        { "{{ 1 is evn }}", NULL, "Unknown test `evn`, did you mean `even`?" },
        { "{{ 'abc' | abbreviate('x') }}", NULL, "Filter `abbreviate`: argument `length` must be an integer, not a string" },
        { "{{ list | join(1) }}", NULL, "Filter `join`: argument `separator` must be a string" },
        { "{{ name | join }}", NULL, "Filter `join` needs a list, not a string" },
        { "{{ 'x' | date('yyyy') }}", NULL, "Filter `date`: cannot read \"x\" as a date" },
        { "{{ date | date('yyyy', timeZone='Mars/Base') }}", NULL, "unsupported time zone \"Mars/Base\"" },
        { "{{ date | date('yyyy Q') }}", NULL, "unsupported letters in the format" },
        { "{{ date | dateAdd(1, 'FORTNIGHTS') }}", NULL, "unknown unit \"FORTNIGHTS\"" },
        { "{{ 'abc' | number }}", NULL, "\"abc\" is not a number" },
        { "{{ '{bad' | fromJson }}", NULL, "`fromJson`: invalid JSON" },
        { "{{ 'a' | replace }}", NULL, "Filter `replace` needs the argument `replace_pairs`" },
        { "{{ 'abc' | replace('b', 'x$', regexp=true) }}", NULL, "Filter `replace`: illegal group reference in the replacement \"x$\"" },
        { "{{ 'abc' | replace('b', '${name}', regexp=true) }}", NULL, "named groups are not supported" },
        { "{{ 'abc' | replace('(b)', '$2', regexp=true) }}", NULL, "refers to group 2, the expression has 1" },
        { "{{ 'abc' | replace('b', 'x\\\\', regexp=true) }}", NULL, "ends with a lone '\\'" },
        { "{{ 'aa' | replace('(a)\\\\1', 'x', regexp=true) }}", NULL,
          "Filter `replace`: invalid regular expression \"(a)\\1\": backreferences (\\1 to \\9, \\k<name>) are not supported", 0, 1, 11 },
        { "{{ 'aa' | replace('(?<n>a)\\\\k<n>', 'x', regexp=true) }}", NULL, "groups starting with \"(?\"" },
        { "{{ 'ab' | replace('a)|(b', 'x', regexp=true) }}", NULL, "unbalanced ')'" },
        { "{{ 'ab' | replace('a[b', 'x', regexp=true) }}", NULL, "unterminated '['" },
        { "{{ 'ab' | replace('*a', 'x', regexp=true) }}", NULL, "invalid regular expression \"*a\": a repetition operator" },
        { "{{ list | jq('map(') }}", NULL, "Filter `jq`: syntax error" },
        { "{{ list | jq('nosuch(1)') }}", NULL, "Filter `jq`: nosuch/1 is not defined (program \"nosuch(1)\")" },
        { "{{ list | jq('.a') }}", NULL, "Filter `jq`: Cannot index array with string \"a\" (program \".a\")" },
        { "{{ list | jq('error(\"boom\")') }}", NULL, "Filter `jq`: boom" },
        { "{{ 'not json' | jq('.') }}", NULL, "Filter `jq`: the input string is not JSON" },
        { "{{ list | jq('import \"x\" as x; .') }}", NULL, "jq modules (import, include, module) are not available" },
        { "{{ list | jq('include \"/etc/passwd\"; .') }}", NULL, "jq modules (import, include, module) are not available" },
        { "{{ list | jq('\"x\" | modulemeta') }}", NULL, "jq modules are not available in a template" },
        { "{{ list | jq }}", NULL, "Filter `jq` needs an expression" },
        { "{{ 1 | chunk(2) }}", NULL, "Filter `chunk` needs a list, not a integer" },
        { "{{ list | chunk(0) }}", NULL, "argument `size` must be at least 1" },
        { "{{ list | chunk }}", NULL, "Filter `chunk` needs the argument `size`" },
        { "{{ 'Hello' | escapeChar('foo') }}", NULL, "argument `type` must be 'single', 'double' or 'shell'" },
        { "{{ 'Hello' | escapeChar('') }}", NULL, "argument `type` must be 'single', 'double' or 'shell'" },
        { "{{ 'Hello' | escapeChar }}", NULL, "Filter `escapeChar` needs the argument `type`" },
        { "{{ 'x' | flatten }}", NULL, "Filter `flatten` needs a list" },
        { "{{ 'x' | escape('xml') }}", NULL, "unknown escaping strategy \"xml\"" },
        { "{{ 'x' | rsort }}", NULL, "Filter `rsort` needs a list" },
        { "{{ fromIon() }}", NULL, "fromIon() needs the argument `ion`" },
        { "{{ fromIon('{not: ion') }}", NULL, "fromIon(): invalid Ion: unterminated struct" },
        { "{{ yaml('a: [1') }}", NULL, "yaml(): invalid YAML" },
        { "{{ yaml(1) }}", NULL, "yaml() needs a YAML string, not a integer" },
        { "{{ randomInt(10) }}", NULL, "randomInt() needs the arguments `lower` and `upper`" },
        { "{{ randomInt() }}", NULL, "randomInt() needs the arguments `lower` and `upper`" },
        { "{{ randomInt('1', '10') }}", NULL, "`lower` and `upper` must be integers, not a string and a string" },
        { "{{ randomInt(10, 1) }}", NULL, "randomInt(): upper (1) is less than lower (10)" },
        { "{{ errorLogs() }}", NULL, "errorLogs() is not available here: it needs the execution's logs" },
        { "{{ encrypt('k', 'v') }}|{{ decrypt('k', 'v') }}", NULL, "encrypt() is not available here: it needs an encryption key" },
        { "{{ read('kestra:///x') }}", NULL, "read() is not available here" },
        { "{% macro m(a) %}{% endmacro %}{{ m(b=1) }}", NULL, "Macro `m` has no argument `b`" },
        { "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", NULL, "Macro `m` takes 1 arguments, not 2" },
        { "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", NULL, "Macro calls nested more than 16 deep (in `m`)", -ELOOP },
        { "{% macro m() %}{% endmacro %}{% macro m() %}{% endmacro %}", NULL, "Macro `m` is defined twice" },
        { "{% macro m() %}never closed", NULL, "Unclosed \"{% macro %}\" opened at line 1, column 1 (expected \"{% endmacro %}\")" },
        { "{% macro m %}{% endmacro %}", NULL, "expected \"(\" after the macro name" },
        { "{% filter upper %}never closed", NULL, "Unclosed \"{% filter %}\"" },
        { "{% filter %}x{% endfilter %}", NULL, "expected a filter name" },
        { "{% filter uper %}x{% endfilter %}", NULL, "Unknown filter `uper`, did you mean `upper`?" },
        { "x{% endmacro %}", NULL, "Unexpected \"{% endmacro %}\" without a matching opening tag" },
        { "{% marco m() %}{% endmacro %}", NULL, "Unknown tag `marco`, did you mean `macro`?" },
        { "{{ 1 is jsno }}", NULL, "Unknown test `jsno`, did you mean `json`?" },
        { "{{ yml('a') }}", NULL, "Unknown function `yml`, did you mean `yaml`?" },
        { "{{ 'a%zz' | urldecode }}", NULL, "invalid escape sequence" },
        { "{{ '!!!!' | base64decode }}", NULL, "not valid base64" },
        { "{{ range(1) }}", NULL, "range() needs a start and an end" },
        { "{{ range(1, 5, 0) }}", NULL, "Range step must not be zero" },
        { "{{ secret('nope') }}", NULL, "Cannot find secret for key 'nope'" },
        { "{{ kv('broken') }}", NULL, "kv(): store unavailable", -EIO },
        { "{{ render(selfref) }}", NULL, "render() nested more than 10 levels deep", -ELOOP },
        { "\n {{ render('{{ 1 / 0 }}') }}", NULL, "Division by zero in the expression `{{ 1 / 0 }}` at line 1, column 6 (in render() at line 2, column 5 of `{{ render('{{ 1 / 0 }}') }}`)", 0, 2, 5 },
        { "{{ name[0] }}", NULL, "Cannot read `0` of a string" },
        /* errors: syntax */
        { "{{ name", NULL, "Unclosed \"{{\" at line 1, column 1", 0, 1, 1 },
        { "ab\n  {{ 1 + }}", NULL, "Unexpected \"}}\", expected a value in the expression `{{ 1 + }}` at line 2, column 10", 0, 2, 10 },
        { "{{ }}", NULL, "expected an expression" },
        { "{{ (1 + 2 }}", NULL, "expected \")\"" },
        { "{{ [1, 2 }}", NULL, "expected \",\" or \"]\"" },
        { "{{ 'abc }}", NULL, "Unclosed string literal at line 1, column 4" },
        { "{{ 1 2 }}", NULL, "Unexpected \"2\", expected \"}}\"" },
        { "{{ a.b() }}", NULL, "Method calls like `.b()` are not supported" },
        { "{{ 1 ; 2 }}", NULL, "Unexpected character ';'" },
        { "{{ 99999999999999999999 }}", NULL, "Integer literal out of range" },
        { "{% if true %}x", NULL, "Unclosed \"{% if %}\" opened at line 1, column 1 (expected \"{% endif %}\")" },
        { "{% for x in list %}x{% else %}", NULL, "Unclosed \"{% for %}\"" },
        { "{% endif %}", NULL, "Unexpected \"{% endif %}\" without a matching opening tag" },
        { "{% fro x in list %}{% endfor %}", NULL, "Unknown tag `fro`, did you mean `for`?" },
        { "{% set = 1 %}", NULL, "expected a variable name" },
        { "{% for x list %}{% endfor %}", NULL, "expected \"in\"" },
        { "{% raw %}never closed", NULL, "Unclosed \"{% raw %}\"" },
        { "a {# never closed", NULL, "Unclosed comment" },
        { "{% if true }}", NULL, "Unclosed \"{%\"" },
};

static int secret_cb(void *userdata, const char *key, char **ret) {
        const char *v = streq(key, "my_secret") ? "s3cr3t" : streq(key, "json_secret") ? "{\"secretKey\": \"v\"}" : NULL;
        if (!v)
                return -ENOENT;
        *ret = strdup(v);
        return *ret ? 0 : -ENOMEM;
}

static int function_cb(void *userdata, const char *name, json_t *args, json_t **ret, char **ret_message) {
        if (!streq(name, "kv"))
                return -ENOENT;
        if (streq(json_string_value(json_array_get(args, 0)), "broken")) {
                *ret_message = strdup("store unavailable");
                return -EIO;
        }
        *ret = json_pack("{s:s}", "field", "from-kv");
        return *ret ? 0 : -ENOMEM;
}

static ExprContext context(json_t *vars) {
        return (ExprContext) {
                .variables = vars,
                .secret = secret_cb,
                .function = function_cb,
                .now = PINNED_NOW,
        };
}

static void test_cases(json_t *vars) {
        ExprContext ctx = context(vars);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *c = &cases[i];
                _cleanup_free_ char *out = NULL;
                ExprError err = {};
                int r = expr_render(c->tmpl, &ctx, &out, &err);

                if (c->expected) {
                        if (!is_str(r >= 0 ? out : err.message, c->expected, c->tmpl))
                                diag("  r=%d", r);
                } else {
                        int want = c->r ? c->r : -EINVAL;
                        bool good = r == want && err.message && strstr(err.message, c->error) &&
                                    (!c->line || err.line == c->line) && (!c->column || err.column == c->column);
                        ok(good, "error: %s", c->tmpl);
                        if (!good)
                                diag("  got r=%d (want %d) at %u:%u: %s\n  wanted: %s", r, want, err.line, err.column,
                                     r >= 0 ? strempty(out) : strempty(err.message), c->error);
                }
                expr_error_done(&err);
        }
}

static void test_values(json_t *vars) {
        ExprContext ctx = context(vars);
        static const struct {
                const char *tmpl, *json;
        } values[] = {
                { "{{ list }}", "[1,2,3]" },
                { "{{ n }}", "5" },
                { "  {{ map }}\n", "{\"a\":1,\"b\":\"two\"}" },
                { "{{ f * 2 }}", "3.0" },
                { "{{ t }}", "true" },
                { "{{ nul }}", "null" },
                { "a{{ n }}", "\"a5\"" },
                { "{{ n }}{{ n }}", "\"55\"" },
                { "plain", "\"plain\"" },
                { "{{ render('{{ list }}') }}", "[1,2,3]" },
        };
        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                _cleanup_json_ json_t *v = NULL, *want = json_loads(values[i].json, JSON_DECODE_ANY, NULL);
                ExprError err = {};
                int r = expr_render_value(values[i].tmpl, &ctx, &v, &err);
                ok(r >= 0 && v && want && json_equal(v, want), "value of %s is %s", values[i].tmpl, values[i].json);
                if (r < 0)
                        diag("  r=%d %s", r, strempty(err.message));
                expr_error_done(&err);
        }
}

static void test_tree(json_t *vars) {
        ExprContext ctx = context(vars);
        _cleanup_json_ json_t *in = json_loads("{\"a\": \"{{ n }}\", \"b\": [\"x{{ name }}\", 3, {\"c\": \"{{ list }}\"}],"
                                               " \"{{ name }}\": true, \"plain\": \"no {{\"}", 0, NULL);
        _cleanup_json_ json_t *want = json_loads("{\"a\": \"5\", \"b\": [\"xWorld\", 3, {\"c\": \"[1,2,3]\"}], \"World\": true,"
                                                 " \"plain\": \"no {{\"}", 0, NULL);
        _cleanup_json_ json_t *out = NULL;
        ExprError err = {};

        /* "no {{" is not a valid template: the whole tree fails with its message */
        int r = expr_render_tree(in, &ctx, &out, &err);
        ok(r == -EINVAL && err.message && strstr(err.message, "Unclosed \"{{\""), "render_tree reports a broken leaf");
        expr_error_done(&err);

        json_object_set_new(in, "plain", json_string("no tags"));
        json_object_set_new(want, "plain", json_string("no tags"));
        r = expr_render_tree(in, &ctx, &out, &err);
        ok(r >= 0 && json_equal(out, want), "render_tree renders every string, keys included");
        expr_error_done(&err);
}

static void test_compiled(void) {
        _cleanup_(expr_template_freep) ExprTemplate *t = NULL;
        ExprError err = {};
        ok(expr_compile("{{ x * 2 }}", &t, &err) >= 0, "compile");
        ok(expr_template_is_single_value(t), "single value template");
        for (int i = 0; i < 3; i++) {
                _cleanup_json_ json_t *vars = json_pack("{s:i}", "x", i);
                ExprContext ctx = context(vars);
                _cleanup_free_ char *s = NULL;
                char want[8];
                snprintf(want, sizeof want, "%d", i * 2);
                ok(expr_eval(t, &ctx, &s, &err) >= 0 && streq(s, want), "compiled template evaluated with x=%d", i);
        }
        expr_error_done(&err);

        ok(expr_has_template("a {{ b }}") && expr_has_template("{% if %}") && !expr_has_template("a { b }") &&
                   !expr_has_template(NULL),
           "expr_has_template");

        /* no context at all: variables NULL, no providers */
        ExprContext empty = {};
        _cleanup_free_ char *s = NULL;
        ok(expr_render("{{ 1 + 1 }}", &empty, &s, &err) >= 0 && streq(s, "2"), "render without variables");
        ok(expr_render("{{ secret('x') }}", &empty, &s, &err) == -EINVAL && strstr(err.message, "no secret provider"),
           "secret() without a provider is an error");
        expr_error_done(&err);
        _cleanup_free_ char *s2 = NULL;
        ExprContext shallow = { .max_render_depth = 1 };
        _cleanup_json_ json_t *vars = json_pack("{s:s,s:s}", "a", "{{ render(b) }}", "b", "{{ 'inner' }}");
        shallow.variables = vars;
        ok(expr_render("{{ render(a) }}", &shallow, &s2, &err) == -ELOOP, "max_render_depth is honoured");
        expr_error_done(&err);
}

static void test_limits(json_t *vars) {
        ExprContext ctx = context(vars);
        ExprError err = {};
        _cleanup_free_ char *out = NULL;
        int r;

        /* template size */
        _cleanup_free_ char *big = malloc(EXPR_MAX_TEMPLATE + 2);
        memset(big, 'x', EXPR_MAX_TEMPLATE + 1);
        big[EXPR_MAX_TEMPLATE + 1] = 0;
        memcpy(big, "{{ 1 }}", 7);
        r = expr_render(big, &ctx, &out, &err);
        ok(r == -E2BIG && strstr(err.message, "Template too large"), "templates over 1 MiB are refused");
        expr_error_done(&err);

        /* nesting depth */
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        strbuf_append(&sb, "{{ ");
        strbuf_append_repeat(&sb, '(', 300);
        strbuf_append(&sb, "1");
        strbuf_append_repeat(&sb, ')', 300);
        strbuf_append(&sb, " }}");
        r = expr_render(sb.buf, &ctx, &out, &err);
        ok(r == -EINVAL && strstr(err.message, "nested too deeply"), "expressions nested over 256 levels are refused");
        expr_error_done(&err);

        /* long chains are as deep as nested parentheses for the evaluator */
        static const char *const chains[] = { " ~ 'x'", " | upper", ".a", "[0]", " + 1" };
        for (size_t i = 0; i < ELEMENTSOF(chains); i++) {
                _cleanup_strbuf_ StrBuf chain = STRBUF_INIT;
                strbuf_append(&chain, "{{ name");
                for (int k = 0; k < 100000; k++)
                        strbuf_append(&chain, chains[i]);
                strbuf_append(&chain, " }}");
                r = expr_render(chain.buf, &ctx, &out, &err);
                ok(r == -EINVAL && strstr(err.message, "nested too deeply"), "a chain of 100000 \"%s\" is refused", chains[i]);
                expr_error_done(&err);
        }

        r = expr_render("{{ 1..10000000 }}", &ctx, &out, &err);
        ok(r == -E2BIG && strstr(err.message, "Range too large"), "huge ranges are refused");
        expr_error_done(&err);

        r = expr_render("{% for i in range(1, 2000) %}{% for j in range(1, 1000) %}{% endfor %}{% endfor %}", &ctx, &out, &err);
        ok(r == -E2BIG && strstr(err.message, "Too many loop iterations"), "loops stop after 1e6 iterations");
        expr_error_done(&err);

        r = expr_render("{% set s = '0123456789' %}{% for i in range(1, 22) %}{% set s = s ~ s %}{% endfor %}{{ s }}", &ctx, &out, &err);
        ok(r == -E2BIG, "strings cannot grow past 16 MiB");
        expr_error_done(&err);

        r = expr_render("{% set s = '0123456789012345678901234567890123456789' %}{% for i in range(1, 1000000) %}{{ s }}{% endfor %}",
                        &ctx, &out, &err);
        ok(r == -E2BIG && strstr(err.message, "output larger than"), "output stops at 16 MiB");
        expr_error_done(&err);

        r = expr_render("{% set l = [] %}{% for i in range(1, 1000) %}{% set l = [l] %}{% endfor %}{{ l }}", &ctx, &out, &err);
        ok(r == -E2BIG && strstr(err.message, "nested too deeply"), "values cannot nest without bound");
        expr_error_done(&err);

        r = expr_render("{% set l = [1] %}{% for i in range(1, 40) %}{% set l = l + l %}{% endfor %}{{ l | length }}", &ctx, &out, &err);
        ok(r == -E2BIG, "lists cannot grow without bound");
        expr_error_done(&err);
}

/* Regular expressions cannot take the evaluator hostage: backreferences (exponential in glibc) are
 * refused, searches in long subjects (quadratic) too, and one render has a bounded budget. */
static void test_regex_limits(json_t *vars) {
        ExprContext ctx = context(vars);
        ExprError err = {};
        _cleanup_free_ char *out = NULL;
        struct timespec t0, t1;
        int r;

        /* the security review's case: 56 'a's took 14 s of CPU before the answer "no match" */
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        strbuf_append(&sb, "{{ '");
        strbuf_append_repeat(&sb, 'a', 56);
        strbuf_append(&sb, "' | replace('(a*)(a*)(a*)(a*)\\4\\3\\2\\1c', 'x', regexp=true) }}");
        /* the template's string literal needs its backslashes doubled */
        _cleanup_strbuf_ StrBuf tmpl = STRBUF_INIT;
        for (const char *p = sb.buf; *p; p++) {
                if (*p == '\\')
                        strbuf_append_char(&tmpl, '\\');
                strbuf_append_char(&tmpl, *p);
        }
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        r = expr_render(tmpl.buf, &ctx, &out, &err);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
        double secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        ok(r == -EINVAL && err.message && strstr(err.message, "\"(a*)(a*)(a*)(a*)\\4\\3\\2\\1c\": backreferences"),
           "a backreference pattern is refused with its reason (%s)", r < 0 ? err.message : out);
        ok(secs < 0.5, "and refused quickly (%.3fs of CPU)", secs);
        expr_error_done(&err);

        /* searches anywhere in a subject are quadratic in glibc: 16 KiB at most */
        strbuf_truncate(&sb, 0);
        strbuf_append(&sb, "{{ s | replace('[0-9a]+x', 'y', regexp=true) }}");
        _cleanup_json_ json_t *v = json_deep_copy(vars);
        _cleanup_free_ char *big = malloc(USER_REGEX_MAX_SUBJECT + 2);
        if (!ok(v && big, "allocate the subject"))
                return;
        memset(big, 'a', USER_REGEX_MAX_SUBJECT + 1);
        big[USER_REGEX_MAX_SUBJECT + 1] = 0;
        json_object_set_new(v, "s", json_string(big));
        ctx.variables = v;
        r = expr_render(sb.buf, &ctx, &out, &err);
        ok(r == -EINVAL && err.message && strstr(err.message, "the string is 16385 bytes long, regular expressions apply to at most 16384"),
           "a regular expression search in a string over 16 KiB is refused (%s)", r < 0 ? err.message : "rendered");
        expr_error_done(&err);

        /* a full-size subject is searched, but a loop cannot do it without end */
        big[USER_REGEX_MAX_SUBJECT - 100] = 0;
        json_object_set_new(v, "s", json_string(big));
        strbuf_truncate(&sb, 0);
        strbuf_append(&sb, "{% for i in range(1, 100) %}{{ s | replace('x', 'y', regexp=true) | length }},{% endfor %}");
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        r = expr_render(sb.buf, &ctx, &out, &err);
        ok(r == -E2BIG && err.message && strstr(err.message, "too much regular expression work in one render"),
           "a render's regular expression work is bounded (%s)", r < 0 ? err.message : "rendered");
        expr_error_done(&err);
        r = expr_render("{{ s | replace('a+', 'b', regexp=true) | length }}", &ctx, &out, &err);
        ok(r == 0 && streq(out, "1"), "a subject just under the limit is still searched (%s)", r < 0 ? err.message : out);
        expr_error_done(&err);
}

/* A jq program runs in a child process: one that loops, floods or eats memory is stopped, saying why,
 * and the renderer goes on. */
static void test_jq_limits(json_t *vars) {
        ExprContext ctx = context(vars);
        ExprError err = {};
        int r;

        ctx.jq_timeout = 300 * USEC_PER_MSEC;
        _cleanup_free_ char *o1 = NULL;
        usec_t start = now_monotonic();
        r = expr_render("{{ 1 | jq('last(range(1e15))') }}", &ctx, &o1, &err);
        ok(r == -E2BIG && strstr(err.message, "Filter `jq`: the jq program ran longer than 300ms and was stopped"),
           "a jq program that runs too long is stopped (%s)", strempty(err.message));
        ok(now_monotonic() - start < 5 * USEC_PER_SEC, "... at its deadline");
        expr_error_done(&err);

        /* under AddressSanitizer, freed memory stays in quarantine (256 MiB): room for it; and jq prints
         * slowly there (some MB/s): time for 16 MiB on a busy machine */
        ctx.jq_timeout = 90 * USEC_PER_SEC;
        ctx.jq_max_memory = (size_t) 1 << 30;
        _cleanup_free_ char *o2 = NULL;
        r = expr_render("{{ 1 | jq('(reduce range(7) as $i (\"0123456789abcdef\"; . + .)) as $s | range(200000) | $s') }}", &ctx,
                        &o2, &err);
        ok(r == -E2BIG && strstr(err.message, "results are larger than 16777216 bytes"), "jq results are bounded (%s)",
           strempty(err.message));
        expr_error_done(&err);

        ctx.jq_timeout = 20 * USEC_PER_SEC;
        ctx.jq_max_memory = 64 << 20;
        _cleanup_free_ char *o3 = NULL;
        r = expr_render("{{ 1 | jq('[range(1e10)] | length') }}", &ctx, &o3, &err);
        ok(r == -E2BIG && err.message && strstr(err.message, "needed more than 64 MiB of memory"),
           "a jq program that takes too much memory is stopped (%s)", strempty(err.message));
        expr_error_done(&err);

        /* the renderer is fine afterwards */
        _cleanup_free_ char *o4 = NULL;
        r = expr_render("{{ list | jq('length') | first }}", &ctx, &o4, &err);
        ok(r == 0 && streq(o4, "3"), "jq runs again after its limits were hit");
        expr_error_done(&err);
}

static void *slow_jq(void *arg) {
        ExprContext *ctx = arg;
        ExprError err = {};
        _cleanup_free_ char *o = NULL;
        (void) expr_render("{{ 1 | jq('last(range(1e15))') }}", ctx, &o, &err);
        expr_error_done(&err);
        return NULL;
}

/* Whether this process has a child (the jq program's), from /proc/self/task/TID/children. */
static bool have_child(void) {
        DIR *d = opendir("/proc/self/task");
        struct dirent *de;
        bool found = false;
        while (d && !found && (de = readdir(d))) {
                char path[64];
                snprintf(path, sizeof path, "/proc/self/task/%s/children", de->d_name);
                FILE *f = de->d_name[0] != '.' ? fopen(path, "re") : NULL;
                found = f && fgetc(f) != EOF;
                if (f)
                        fclose(f);
        }
        if (d)
                closedir(d);
        return found;
}

/* A jq child holds none of the renderer's descriptors: a pipe that another thread had open when
 * the child was made (a task's output, another jq program's results) ends when its writer closes
 * it, not when a slow jq program does. */
static void test_jq_fds(json_t *vars) {
        ExprContext ctx = context(vars);
        ctx.jq_timeout = 4 * USEC_PER_SEC;
        int p[2];
        pthread_t t;
        if (pipe2(p, O_CLOEXEC) < 0 || pthread_create(&t, NULL, slow_jq, &ctx) != 0) {
                ok(false, "pipe and thread: %m");
                return;
        }
        for (int i = 0; i < 300 && !have_child(); i++)
                usleep(10000);
        close(p[1]);
        usec_t start = now_monotonic();
        struct pollfd pfd = { p[0], POLLIN, 0 };
        char c;
        bool eof = poll(&pfd, 1, 2000) == 1 && read(p[0], &c, 1) == 0;
        ok(eof && now_monotonic() - start < 2 * USEC_PER_SEC,
           "a pipe closed while a jq program runs ends at once (the child does not hold it)");
        pthread_join(t, NULL);
        close(p[0]);
}

typedef struct JqThread {
        ExprContext ctx;
        const char *tmpl;
        int r;
        char *out, *message;
} JqThread;

static void *run_jq_thread(void *arg) {
        JqThread *t = arg;
        ExprError err = {};
        t->r = expr_render(t->tmpl, &t->ctx, &t->out, &err);
        t->message = err.message ? strdup(err.message) : NULL;
        expr_error_done(&err);
        return NULL;
}

/* A process runs at most EXPR_JQ_MAX_CHILDREN jq programs at once: more renders wait for a slot within
 * their own time limit, or fail saying so; memory stays bounded by that many children. */
static void test_jq_children(json_t *vars) {
        JqThread t[12] = {};
        pthread_t th[12];
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                t[i] = (JqThread) { .ctx = context(vars), .tmpl = "{{ list | jq('length') | first }}" };
                t[i].ctx.jq_timeout = 60 * USEC_PER_SEC;
                pthread_create(&th[i], NULL, run_jq_thread, &t[i]);
        }
        unsigned good = 0, running, peak;
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                pthread_join(th[i], NULL);
                if (t[i].r == 0 && streq_ptr(t[i].out, "3"))
                        good++;
                else
                        diag("  render %zu: %d, \"%s\", %s", i, t[i].r, strna(t[i].out), strna(t[i].message));
                free(t[i].out);
                free(t[i].message);
        }
        expr_jq_children(&running, &peak);
        is_int(good, ELEMENTSOF(t), "12 renders at once all get their jq result");
        ok(peak <= EXPR_JQ_MAX_CHILDREN && running == 0, "with at most %u jq children at a time (peak %u, now %u)",
           EXPR_JQ_MAX_CHILDREN, peak, running);

        /* every slot held by a slow program: a render with a short limit gives up, saying why */
        JqThread slow[EXPR_JQ_MAX_CHILDREN] = {};
        pthread_t sth[EXPR_JQ_MAX_CHILDREN];
        for (size_t i = 0; i < ELEMENTSOF(slow); i++) {
                slow[i] = (JqThread) { .ctx = context(vars), .tmpl = "{{ 1 | jq('last(range(1e15))') }}" };
                slow[i].ctx.jq_timeout = 3 * USEC_PER_SEC;
                pthread_create(&sth[i], NULL, run_jq_thread, &slow[i]);
        }
        for (int i = 0; i < 300; i++) {
                expr_jq_children(&running, &peak);
                if (running == EXPR_JQ_MAX_CHILDREN)
                        break;
                usleep(10000);
        }
        JqThread late = { .ctx = context(vars), .tmpl = "{{ list | jq('length') | first }}" };
        late.ctx.jq_timeout = 200 * USEC_PER_MSEC;
        run_jq_thread(&late);
        ok(late.r < 0 && late.message && strstr(late.message, "jq programs were already running in this process"),
           "a render that finds every slot busy past its limit fails, saying why (%s)", strna(late.message));
        free(late.out);
        free(late.message);
        for (size_t i = 0; i < ELEMENTSOF(slow); i++) {
                pthread_join(sth[i], NULL);
                free(slow[i].out);
                free(slow[i].message);
        }
}

static int collect_unknown(void *userdata, const ExprUnknownName *u) {
        StrBuf *sb = userdata;
        strbuf_appendf(sb, "%s %s %s %u:%u `%.*s`;", u->kind, u->name, strna(u->suggestion), u->line, u->column,
                       (int) u->statement_len, u->statement);
        return 0;
}

static void test_check_names(void) {
        _cleanup_(expr_template_freep) ExprTemplate *t = NULL;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        ExprError err = {};

        ok(expr_compile("{{ name | uper }} {{ nosuch(1) }}\n{% if x is evn %}{{ kv('k') | jq('.') }}{% endif %}"
                        "{% macro mine() %}{{ mien() }}{% endmacro %}{{ mine() ~ errorLogs() }}{% filter lowr %}{% endfilter %}",
                        &t, &err) >= 0,
           "a template with unknown names compiles");
        ok(expr_template_check_names(t, collect_unknown, &sb) == 0, "check names");
        is_str(strbuf_str(&sb),
               "filter uper upper 1:11 `{{ name | uper }}`;function nosuch n/a 1:22 `{{ nosuch(1) }}`;"
               "test evn even 2:12 `{% if x is evn %}`;function mien min 2:73 `{{ mien() }}`;"
               "filter lowr lower 2:132 `{% filter lowr %}`;",
               "every unknown filter, function and test, with its position and the closest name");
        expr_error_done(&err);
}

static void test_output_format(void) {
        static const struct {
                double d;
                const char *s;
        } doubles[] = {
                { 1.0, "1.0" }, { -1.5, "-1.5" }, { 100.0, "100.0" }, { 1e7, "1.0E7" }, { 1.2345e7, "1.2345E7" },
                { 9999999.0, "9999999.0" }, { 0.001, "0.001" }, { 1e-4, "1.0E-4" }, { 123.456, "123.456" },
                { 1e100, "1.0E100" }, { -0.0, "-0.0" }, { 0.1, "0.1" }, { 1.0 / 3, "0.3333333333333333" },
        };
        for (size_t i = 0; i < ELEMENTSOF(doubles); i++) {
                _cleanup_json_ json_t *v = json_real(doubles[i].d);
                _cleanup_free_ char *s = NULL;
                ok(expr_value_to_string(v, &s) >= 0 && streq(s, doubles[i].s), "double %s", doubles[i].s);
                if (s && !streq(s, doubles[i].s))
                        diag("  got %s", s);
        }
}

int main(void) {
        json_error_t je;
        _cleanup_json_ json_t *vars = json_loads(base_vars, 0, &je);
        if (!vars) {
                diag("bad test variables: %s", je.text);
                return 1;
        }
        test_cases(vars);
        test_values(vars);
        test_tree(vars);
        test_compiled();
        test_limits(vars);
        test_regex_limits(vars);
        test_jq_limits(vars);
        test_jq_fds(vars);
        test_jq_children(vars);
        test_check_names();
        test_output_format();
        return tap_done();
}
