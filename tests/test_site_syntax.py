"""Syntax of the site a post came from (Jekyll, Hugo, Docusaurus, Pelican) never reaches readers;
code never changes (fixtures written for these tests)."""
import pytest

from publisher.config import load_settings
from publisher.markdown import parse_body
from publisher.post import parse_post
from publisher.site_syntax import clean


def test_heading_attributes_are_stripped():
    out = clean("## Install {#install}\n\n### Use it {#use .wide data-x=\"1\"}\n\ntext {#not-a-heading}\n")
    assert out.text == "## Install\n\n### Use it\n\ntext {#not-a-heading}\n"
    assert out.notes == ()


def test_kramdown_ials_and_toc_pair():
    out = clean("* TOC\n{:toc}\n\n## Contents\n{:.no_toc}\n\nA notice.\n{: .notice--info}\n\n"
                "![Chart](/c.png){: .align-center} and [site](https://x.test){:target=\"_blank\"}.\n")
    assert out.text == "\n## Contents\n\nA notice.\n\n![Chart](/c.png) and [site](https://x.test).\n"


def test_block_attribute_lines_are_stripped():
    assert clean("Paragraph.\n{.note}\n\nNext.\n").text == "Paragraph.\n\nNext.\n"


def test_mdx_imports_exports_and_comments_are_removed():
    out = clean("import Tabs from '@theme/Tabs';\nimport {\n  Chart,\n} from \"../components\";\n\n"
                "export const meta = {\n  wide: true,\n};\n\nImport duties rose. {/* an MDX comment */}\n"
                "export of this line stays: prose.\n")
    assert out.text.lstrip("\n") == "Import duties rose.\nexport of this line stays: prose.\n"


def test_jsx_components_go_and_their_text_stays():
    out = clean("<Tabs>\n  <TabItem value=\"py\" label=\"Python\">\n    Python 的写法\n  </TabItem>\n"
                "  <TabItem value=\"js\">\n    JavaScript の書き方\n  </TabItem>\n</Tabs>\n\n"
                "<Admonition type=\"tip\">Keep it short.</Admonition>\n\nA <Highlight color=\"#f00\">red</Highlight> word."
                "\n\n<Chart data={{a: 1}} />\n\n<B>bold html</B> stays.\n", first_line=10)
    assert out.components == ("Tabs", "TabItem", "Admonition", "Highlight", "Chart")
    assert out.notes[0] == "line 10: MDX component <Tabs> left out; its text is kept"
    tree = parse_body(out.text)
    assert [b.type for b in tree.children] == ["paragraph"] * 5  # no indented code made of the inner text
    assert "Python 的写法" in out.text and "JavaScript の書き方" in out.text
    assert "Keep it short." in out.text and "A red word." in out.text and "<B>bold html</B> stays." in out.text
    assert "<" not in out.text.replace("<B>", "").replace("</B>", "")


@pytest.mark.parametrize("tag", ["{{ site.baseurl }}", "{% include note.html %}", "{{< youtube >}}",
                                 "{{% notice tip %}}", "{%- assign x = 1 -%}", "{{- .Title -}}"])
def test_liquid_and_hugo_tags_are_reported_and_left_out(tag):
    out = clean(f"First line.\n\nBefore {tag} after.\n", first_line=7)
    assert out.text == "First line.\n\nBefore after.\n"
    assert out.notes == (f"line 9: Liquid/Hugo tag {tag} would reach readers; it is left out",)


def test_tag_lines_are_dropped_and_multiline_shortcodes_found():
    out = clean("Intro line\n{% include ad.html %}\nsame paragraph.\n\n{{< figure src=\"a.png\"\n"
                "    caption=\"雪\" >}}\n\n{{< columns >}}\nInner text stays.\n{{< /columns >}}\n")
    assert out.text == "Intro line\nsame paragraph.\n\n![雪](a.png)\n\nInner text stays.\n"
    assert [n.split(":")[0] for n in out.notes] == ["line 2", "line 8", "line 10"]


@pytest.mark.parametrize(("tag", "markdown"), [
    ('{{< figure src="/img/a.jpg" alt="A map" link="/big.jpg" >}}', "[![A map](/img/a.jpg)](/big.jpg)"),
    ('{% include figure.html image_path="/img/b.png" caption="Hit ratio" %}', "![Hit ratio](/img/b.png)"),
    ("{{< youtube dQw4w9WgXcQ >}}", "[▶ YouTube](https://www.youtube.com/watch?v=dQw4w9WgXcQ)"),
    ('{{ youtube(id="abc123xyz00", autoplay=false) }}', "[▶ YouTube](https://www.youtube.com/watch?v=abc123xyz00)"),
    ("{% youtube abc123 %}", "[▶ YouTube](https://www.youtube.com/watch?v=abc123)"),
    ('{{< tweet user="someone" id="1234567890" >}}', "<https://x.com/someone/status/1234567890>"),
    ("{{< vimeo 146022717 >}}", "[▶ Vimeo](https://vimeo.com/146022717)"),
    ("{{< gist spf13 7896402 >}}", "<https://gist.github.com/spf13/7896402>"),
    ("{% post_link mail-spf-dkim %}", "mail-spf-dkim"),  # Hexo: the other post's name, unlinked
    ('{% post_link aws-ses-block "SES [blocked]" %}', "SES \\[blocked\\]"),
])
def test_media_tags_become_what_readers_can_follow(tag, markdown):
    out = clean(f"Before.\n\n{tag}\n\nAfter.\n")
    assert out.text == f"Before.\n\n{markdown}\n\nAfter.\n" and not out.notes


def test_cross_references_and_pelican_filename_links_keep_their_text_unlinked():
    out = clean('See [last year]({{< ref "kit-2025.md" >}}), [the move]({% post_url 2025-05-02-move %}) and '
                "[part one]({filename}/repair/one.md); [notes]({attach}files/n.pdf), ![jar]({static}/i/jar.jpg).\n")
    assert out.text == "See last year, the move and part one; [notes](files/n.pdf), ![jar](/i/jar.jpg).\n"


@pytest.mark.parametrize("opening, closing", [
    ("{% highlight python linenos %}", "{% endhighlight %}"),
    ('{{< highlight python "linenos=table" >}}', "{{< /highlight >}}"),
])
def test_highlight_pair_becomes_fenced_code(opening, closing):
    out = clean(f"Code:\n\n{opening}\nprint(\"{{{{ x }}}}\")\n{closing}\n\nAfter.\n")
    assert out.text == "Code:\n\n```python\nprint(\"{{ x }}\")\n```\n\nAfter.\n"
    assert out.notes == ()
    assert parse_body(out.text).children[1].type == "fence"


def test_raw_keeps_its_content_and_comment_drops_it():
    out = clean("{% raw %}\nWrite {{ page.title }} in a layout.\n{% endraw %}\n\n"
                "Visible {% comment %}a note to self{% endcomment %}text.\n")
    assert out.text == "Write {{ page.title }} in a layout.\n\nVisible text.\n" and out.notes == ()


def test_escaped_hugo_shortcode_is_shown_as_written():
    assert clean("Use {{</* youtube id */>}} to embed.\n").text == "Use {{< youtube id >}} to embed.\n"


def test_pelican_static_links_point_at_the_site():
    assert clean("![Map]({static}/images/map.png)\n").text == "![Map](/images/map.png)\n"


def test_code_is_never_touched():
    code = ("```liquid\n{% include x.html %}\n{{ page.title }} {: .x}\n<Tabs>\n```\n\n"
            "~~~~\n```\n{{< inner >}}\n```\n~~~~\n\n"
            "    {% indented code %}\n    <Foo />\n\n"
            "<pre>{{ pre }}\n<Tabs></pre>\n\n"
            "Inline `{{ x }}` and ``{% y %} <Tabs>`` and <code>{{ z }}</code> stay. <!-- {% hidden %} -->\n\n"
            "- list item\n\n    {{ in a list: not code, so cut }}\n")
    out = clean(code)
    assert out.text == code.replace("\n\n    {{ in a list: not code, so cut }}\n", "\n")
    assert out.notes == ("line 23: Liquid/Hugo tag {{ in a list: not code, so cut }} would reach readers; "
                         "it is left out",)


def test_post_carries_notes_with_file_line_numbers():
    text = ("---\ntitle: 周报\ntags: [a]\n---\nimport Note from './note';\n\n# 周报\n\n## 头条 {#top}\n\n"
            "正文 {{ site.name }} 内容。\n\n<Note>提示</Note>\n")
    post = parse_post(text, name="p.mdx", settings=load_settings(env={}))
    assert post.body == "## 头条\n\n正文 内容。\n\n提示"
    assert post.source_notes == ("line 11: Liquid/Hugo tag {{ site.name }} would reach readers; it is left out",
                                 "line 13: MDX component <Note> left out; its text is kept")


def test_an_embedded_player_becomes_a_link_to_the_video():
    out = clean('Watch:\n\n<iframe width="560" src="https://www.youtube-nocookie.com/embed/xyz987abc65" '
                'title="The demo" allowfullscreen></iframe>\n\n<iframe src="javascript:alert(1)"></iframe>\n')
    assert out.text == ('Watch:\n\n<a href="https://www.youtube.com/watch?v=xyz987abc65">▶ The demo</a>\n\n'
                        '<iframe src="javascript:alert(1)"></iframe>\n')
    bili = clean('<iframe src="//player.bilibili.com/player.html?aid=1&bvid=BV1xx411c7mD&page=1"></iframe>\n')
    assert bili.text == '<a href="https://www.bilibili.com/video/BV1xx411c7mD">▶ bilibili</a>\n'


def test_ruby_reads_as_base_and_reading_in_parentheses():
    out = clean("<ruby>温故知新<rt>おんこちしん</rt></ruby>の精神と<ruby>漢<rp>(</rp><rt>かん</rt><rp>)</rp></ruby>字。\n")
    assert out.text == "温故知新（おんこちしん）の精神と漢（かん）字。\n"


def test_a_literal_made_a_site_url_by_a_filter_is_that_path():
    out = clean("![a]({{ \"/assets/a.png\" | relative_url }}) and [b]({{ '/guides/x/' | absolute_url }}) "
                "and ![c]({{ \"img/c.png\" | relURL }}).\n")
    assert out.text == "![a](/assets/a.png) and [b](/guides/x/) and ![c](img/c.png).\n" and not out.notes


def test_page_variables_take_the_front_matter_text():
    meta = {"image": "/img/hero.png", "author": {"name": "Priya"}, "tags": ["a"], "draft": False}
    out = clean("![hero]({{ page.image }}) by {{ page.author.name }}, {{ .Params.image }}; "
                "{{ page.tags }} {{ page.missing }} {{ page.draft }}.\n", meta=meta)
    assert out.text == "![hero](/img/hero.png) by Priya, /img/hero.png;.\n"
    assert len(out.notes) == 3


@pytest.mark.parametrize("opening, closing, fence", [
    ('{{% alert title="Breaking change" color="warning" %}}', "{{% /alert %}}", ":::warning Breaking change"),
    ("{{< notice tip >}}", "{{< /notice >}}", ":::tip"),
    ('{{< callout type="error" >}}', "{{< /callout >}}", ":::danger"),
    ('{{< admonition note "Heads up" >}}', "{{< /admonition >}}", ":::note Heads up"),
    ("{% note warning %}", "{% endnote %}", ":::warning"),
])
def test_callout_tags_on_their_own_lines_become_admonitions(opening, closing, fence):
    cleaned = clean(f"Before.\n\n{opening}\nThe **v1** API is gone.\n{closing}\n\nAfter.\n")
    assert cleaned.text == f"Before.\n\n{fence}\nThe **v1** API is gone.\n:::\n\nAfter.\n" and not cleaned.notes
    tree = parse_body(cleaned.text)
    assert [node.type for node in tree.children] == ["paragraph", "admonition", "paragraph"]


def test_a_callout_tag_sharing_its_line_is_left_out_and_reported():
    cleaned = clean("Inline {{< notice warning >}}here{{< /notice >}} text.\n")
    assert ":::" not in cleaned.text and "here" in cleaned.text and len(cleaned.notes) == 2


def test_table_of_contents_markers_on_their_own_lines_are_dropped():
    assert clean("Intro.\n\n[[TOC]]\n\n## A\n\ntext [toc] inline\n\n[TOC]\n").text == "Intro.\n\n## A\n\ntext [toc] inline\n"


def test_mdx_image_components_become_images_and_are_not_reported():
    out = clean("### Notices\n\n<Image src={require('./img/notice.png')} width=\"90%\" />\n\n"
                "<ThemedImage alt=\"Dark mode\" sources={{light: '/img/l.png', dark: '/img/d.png'}} />\n\n"
                "<Screenshot src=\"/img/s.png\" alt={'The list'} />\n\n<Tabs>kept</Tabs>\n")
    assert out.text == ("### Notices\n\n![](./img/notice.png)\n\n![Dark mode](/img/l.png)\n\n![The list](/img/s.png)\n\n"
                        "kept\n")
    assert out.notes == ("line 9: MDX component <Tabs> left out; its text is kept",)
