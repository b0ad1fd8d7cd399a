// yaml_to_json FILE — prints a YAML file as JSON on stdout, so that the deployment checks (Python,
// standard library only) can read compose.yaml and the alert rules. Uses yaml-cpp, which the
// project already builds with. Scalars follow YAML 1.2's core schema: a plain (unquoted) scalar
// that reads as null, a boolean or a number becomes one; anything quoted stays a string. Aliases
// are resolved; merge keys (`<<`) are kept as ordinary keys. Exit 1 with the parser's message on
// invalid YAML.
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <iostream>
#include <regex>
#include <string>

namespace {

void String(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void Scalar(const YAML::Node& node, std::string& out) {
  const std::string& v = node.Scalar();
  if (node.Tag() != "?") {  // quoted ("!") or explicitly tagged: a string
    String(v, out);
    return;
  }
  static const std::regex null_re("~|null|Null|NULL|");
  static const std::regex true_re("true|True|TRUE");
  static const std::regex false_re("false|False|FALSE");
  static const std::regex int_re("[-+]?[0-9]+");
  static const std::regex float_re("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (std::regex_match(v, null_re)) {
    out += "null";
  } else if (std::regex_match(v, true_re)) {
    out += "true";
  } else if (std::regex_match(v, false_re)) {
    out += "false";
  } else if (std::regex_match(v, int_re)) {
    out += v[0] == '+' ? v.substr(1) : v;
  } else if (std::regex_match(v, float_re)) {
    std::string f = v[0] == '+' ? v.substr(1) : v;
    if (f[0] == '.') f.insert(0, "0");
    if (f.size() > 1 && f[0] == '-' && f[1] == '.') f.insert(1, "0");
    if (f.back() == '.') f += '0';
    out += f;
  } else {
    String(v, out);
  }
}

void Emit(const YAML::Node& node, std::string& out) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out += "null";
      break;
    case YAML::NodeType::Scalar:
      Scalar(node, out);
      break;
    case YAML::NodeType::Sequence: {
      out += '[';
      bool first = true;
      for (const YAML::Node& item : node) {
        if (!first) out += ',';
        first = false;
        Emit(item, out);
      }
      out += ']';
      break;
    }
    case YAML::NodeType::Map: {
      out += '{';
      bool first = true;
      for (const auto& kv : node) {
        if (!first) out += ',';
        first = false;
        String(kv.first.Scalar(), out);
        out += ':';
        Emit(kv.second, out);
      }
      out += '}';
      break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: yaml_to_json FILE\n";
    return 2;
  }
  try {
    const YAML::Node root = YAML::LoadFile(argv[1]);
    std::string out;
    Emit(root, out);
    std::cout << out << "\n";
  } catch (const YAML::Exception& e) {
    std::cerr << argv[1] << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
