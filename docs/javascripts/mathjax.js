// MathJax 3 set-up for pymdownx.arithmatex (generic mode): it wraps $...$ in \(...\) and $$...$$ in \[...\] inside
// elements of class "arithmatex"; only those elements are typeset. document$ is Material's page-change observable,
// so equations are typeset again after instant navigation.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};

document$.subscribe(() => {
  MathJax.startup.output.clearCache();
  MathJax.typesetClear();
  MathJax.texReset();
  MathJax.typesetPromise();
});
