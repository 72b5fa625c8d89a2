// The query language's lexer and recursive-descent parser. The grammar is in custdb/query.h.
#include <algorithm>
#include <functional>
#include <limits>

#include "custdb/query.h"
#include "query/field_rules.h"
#include "util/message.h"
#include "util/normalize.h"

namespace custdb::query {
namespace {

struct Token {
  enum class Kind {
    kEnd, kError, kWord, kString, kNumber, kDate, kTimestamp, kLParen, kRParen, kComma, kCmp,
  };
  Kind kind = Kind::kEnd;
  std::size_t offset = 0;   // byte offset of the token's first character
  std::string_view source;  // the token as written, quotes included
  std::string text;         // kString: the content with '' undoubled; otherwise == source
  Cmp cmp = Cmp::kEq;       // kCmp
  std::string error;        // kError: the complete message
};

// 1-based position in characters: UTF-8 continuation bytes do not count.
std::size_t position(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<std::size_t>(std::count_if(
                 text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset),
                 [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

Error error_at(std::string_view text, std::size_t offset, std::string_view message) {
  return Error(ErrorCode::kInvalidArgument,
               "at " + std::to_string(position(text, offset)) + ": " + std::string(message));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}
bool is_word_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_word_char(char c) { return is_word_start(c) || is_digit(c) || c == '-'; }
// Characters of a token that starts with a digit: numbers, dates and timestamps with offsets.
bool is_numeric_char(char c) { return is_word_char(c) || c == '.' || c == ':' || c == '+'; }

// Bytes of the UTF-8 sequence `lead` starts (1 for ASCII and for a byte that starts none).
std::size_t utf8_length(char lead) {
  const auto b = static_cast<unsigned char>(lead);
  return b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
}

// Offset of the first byte that is not part of well-formed UTF-8, or npos.
std::size_t first_non_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_length(text[i]);
    if (i + n > text.size() || !normalize::is_utf8(text.substr(i, n))) return i;
    i += n;
  }
  return std::string_view::npos;
}

bool looks_like_date(std::string_view s) {
  if (s.size() < 10 || s[4] != '-' || s[7] != '-') return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!is_digit(s[i])) return false;
  return true;
}

bool looks_like_number(std::string_view s) {
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  auto dot = s.find('.');
  auto digits = [](std::string_view part) {
    return !part.empty() && std::all_of(part.begin(), part.end(), is_digit);
  };
  return digits(s.substr(0, dot)) && (dot == std::string_view::npos || digits(s.substr(dot + 1)));
}

// Tokenizes the whole text. Ends with kEnd, or with kError at the first character that starts
// no token; the parser reports that error when it reaches it, so earlier syntax errors win.
std::vector<Token> tokenize(std::string_view text) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  auto emit = [&](Token::Kind kind, std::size_t start, std::size_t end) {
    Token token;
    token.kind = kind;
    token.offset = start;
    token.source = text.substr(start, end - start);
    token.text = std::string(token.source);
    tokens.push_back(std::move(token));
    i = end;
  };
  auto emit_cmp = [&](Cmp cmp, std::size_t length) {
    emit(Token::Kind::kCmp, i, i + length);
    tokens.back().cmp = cmp;
  };
  auto emit_error = [&](std::string_view message) {
    Token token;
    token.kind = Token::Kind::kError;
    token.offset = i;
    token.error = error_at(text, i, message).message();
    tokens.push_back(std::move(token));
  };
  auto next_is = [&](char c) { return i + 1 < text.size() && text[i + 1] == c; };

  while (true) {
    while (i < text.size() && is_space(text[i])) ++i;
    if (i == text.size()) {
      emit(Token::Kind::kEnd, i, i);
      return tokens;
    }
    char c = text[i];
    if (c == '(') {
      emit(Token::Kind::kLParen, i, i + 1);
    } else if (c == ')') {
      emit(Token::Kind::kRParen, i, i + 1);
    } else if (c == ',') {
      emit(Token::Kind::kComma, i, i + 1);
    } else if (c == '=') {
      emit_cmp(Cmp::kEq, 1);
    } else if (c == '!' && next_is('=')) {
      emit_cmp(Cmp::kNe, 2);
    } else if (c == '<') {
      next_is('=') ? emit_cmp(Cmp::kLe, 2) : emit_cmp(Cmp::kLt, 1);
    } else if (c == '>') {
      next_is('=') ? emit_cmp(Cmp::kGe, 2) : emit_cmp(Cmp::kGt, 1);
    } else if (c == '\'' || c == '"') {
      // 'text' or "text"; the quote doubled inside stands for itself.
      const char quote = c;
      std::string content;
      std::size_t j = i + 1;
      for (;; ++j) {
        if (j == text.size()) {
          emit_error("expected a closing quote for the text starting here, found end of query");
          return tokens;
        }
        if (text[j] != quote) {
          content += text[j];
        } else if (j + 1 < text.size() && text[j + 1] == quote) {
          content += quote;
          ++j;
        } else {
          break;
        }
      }
      emit(Token::Kind::kString, i, j + 1);
      tokens.back().text = std::move(content);
    } else if (is_digit(c) || (c == '-' && i + 1 < text.size() && is_digit(text[i + 1]))) {
      std::size_t end = i + 1;
      while (end < text.size() && is_numeric_char(text[end])) ++end;
      std::string_view run = text.substr(i, end - i);
      if (looks_like_date(run) && run.size() == 10) {
        emit(Token::Kind::kDate, i, end);
      } else if (looks_like_date(run) && (run[10] == 'T' || run[10] == 't')) {
        emit(Token::Kind::kTimestamp, i, end);
      } else if (looks_like_number(run)) {
        emit(Token::Kind::kNumber, i, end);
      } else {
        emit_error("expected a number, date or timestamp, found " + message::quoted(run) +
                   " (quote text that starts with a digit)");
        return tokens;
      }
    } else if (is_word_start(c)) {
      std::size_t end = i + 1;
      while (end < text.size() && is_word_char(text[end])) ++end;
      emit(Token::Kind::kWord, i, end);
    } else {
      // The whole character (the text is UTF-8: parse() checked), escaped if a control.
      emit_error("expected a condition, value or operator, found " +
                 message::quoted(text.substr(i, utf8_length(c))));
      return tokens;
    }
  }
}

// Echoed tokens go through message::quoted: a query is user text and may hold escape sequences.
std::string quoted(std::string_view text) { return message::quoted(text); }

std::string describe(const Token& token) {
  switch (token.kind) {
    case Token::Kind::kEnd: return "end of query";
    case Token::Kind::kString: return message::quoted(token.text);
    default: return quoted(token.source);
  }
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

class Parser {
 public:
  Parser(std::string_view text, const ParseOptions& options)
      : text_(text), options_(options), tokens_(tokenize(text)) {}

  Result<Node> parse_query() {
    auto query = parse_or(0);
    if (!query) return query;
    const Token& token = peek();
    if (token.kind == Token::Kind::kRParen)
      return fail(token, "'and', 'or' or end of query", " (no '(' matches it)");
    if (token.kind != Token::Kind::kEnd) return fail(token, "'and', 'or' or end of query");
    return query;
  }

 private:
  const Token& peek() const { return tokens_[next_]; }
  // The tokens end with kEnd or kError, which no rule consumes, so next_ stays in range.
  void advance() { ++next_; }
  static bool is_word(const Token& token, std::string_view word) {
    return token.kind == Token::Kind::kWord && normalize::iequals(token.text, word);
  }
  static bool is_missing_value(const Token& token) {
    switch (token.kind) {
      case Token::Kind::kWord:
      case Token::Kind::kString:
      case Token::Kind::kNumber:
      case Token::Kind::kDate:
      case Token::Kind::kTimestamp: return false;
      default: return true;
    }
  }

  tl::unexpected<Error> fail(const Token& token, std::string_view expected,
                             std::string_view note = {}) const {
    if (token.kind == Token::Kind::kError)
      return tl::unexpected(Error(ErrorCode::kInvalidArgument, token.error));
    return tl::unexpected(error_at(
        text_, token.offset,
        "expected " + std::string(expected) + ", found " + describe(token) + std::string(note)));
  }

  std::string at(const Token& token) const { return std::to_string(position(text_, token.offset)); }

  Result<Node> parse_or(int depth) {
    std::vector<Node> operands;
    while (true) {
      auto operand = parse_and(depth);
      if (!operand) return operand;
      operands.push_back(std::move(*operand));
      if (!is_word(peek(), "or")) break;
      advance();
    }
    // The builder's flattening, so parsed and built trees compare equal.
    return any_of(std::move(operands));
  }

  Result<Node> parse_and(int depth) {
    std::vector<Node> operands;
    while (true) {
      auto operand = parse_unary(depth);
      if (!operand) return operand;
      operands.push_back(std::move(*operand));
      if (!is_word(peek(), "and")) break;
      advance();
    }
    return all_of(std::move(operands));
  }

  Result<Node> parse_unary(int depth) {
    const Token& token = peek();
    if (depth > field_rules::kMaxDepth)
      return fail(token, "at most " + std::to_string(field_rules::kMaxDepth) + " levels of nesting",
                  " at a deeper level");
    if (is_word(token, "not")) {
      advance();
      auto operand = parse_unary(depth + 1);
      if (!operand) return operand;
      Node node;
      node.kind = Node::Kind::kNot;
      node.children.push_back(std::move(*operand));
      return node;
    }
    if (token.kind == Token::Kind::kLParen) {
      advance();
      auto inner = parse_or(depth + 1);
      if (!inner) return inner;
      if (peek().kind != Token::Kind::kRParen)
        return fail(peek(), "'and', 'or' or ')' to close '(' at " + at(token));
      advance();
      return inner;
    }
    bool starts_predicate = !field_rules::is_keyword(token.text) || is_word(token, "tag") ||
                            is_word(token, "related") || is_word(token, "holds");
    if (token.kind == Token::Kind::kWord && starts_predicate) return parse_predicate(depth);
    if (in_holding_)
      return fail(token, "a holding condition (balance, status, opened_on, product_code, "
                         "currency, not or '(')");
    return fail(token, "a condition (a field, tag, related, holds, not or '(')");
  }

  Result<Node> parse_predicate(int depth) {
    const Token& name = peek();
    if (in_holding_) {
      // Inside holds(t, q): holding fields only.
      auto field = holding_field_from_string(name.text);
      if (!field) {
        std::string note = " (inside holds(): balance, status, opened_on, product_code, currency";
        if (is_word(name, "tag") || is_word(name, "related") || is_word(name, "holds") ||
            field_from_string(name.text) ||
            (options_.schema && options_.schema->find(name.text)))
          note += "; " + quoted(name.text) + " is about the customer: write it outside holds()";
        return fail(name, "a holding field", note + ")");
      }
      advance();
      return parse_field_predicate(*field);
    }
    if (is_word(name, "tag")) return parse_tag();
    if (is_word(name, "related")) return parse_related(depth);
    if (is_word(name, "holds")) return parse_holds(depth);
    auto field = field_from_string(name.text);
    // A built-in name always means the built-in field; otherwise a customers attribute the
    // schema declares (live ones only: Schema::find).
    const AttributeDef* attribute = nullptr;
    if (!field && options_.schema) attribute = options_.schema->find(name.text);
    if (!field && !attribute) {
      if (auto holding = holding_field_from_string(name.text))
        return fail(name, "a field",
                    " (" + quoted(to_string(*holding)) +
                        " is a holding field: write it inside holds(type, ...), e.g. "
                        "holds(fund, balance >= 1000))");
      return unknown_field(name);
    }
    advance();
    if (attribute) return parse_attribute_predicate(*attribute);
    return parse_field_predicate(*field);
  }

  // What follows a built-in (customer or holding) field's name (the name consumed).
  Result<Node> parse_field_predicate(Field field_value) {
    const std::optional<Field> field = field_value;
    std::string field_name = quoted(to_string(*field));
    std::string unordered = "=, != or in after " + field_name + " (" +
                            std::string(to_string(*field)) + " has no order)";
    Node node;
    node.field = *field;
    return parse_operation(
        std::move(node),
        [&](Cmp cmp) -> std::optional<std::string> {
          if (cmp != Cmp::kEq && cmp != Cmp::kNe && !is_ordered(*field)) return unordered;
          return std::nullopt;
        },
        is_ordered(*field), unordered,
        [&](const std::string& after) { return parse_value(*field, after); },
        "a comparison (=, !=, <, <=, >, >=, in or between) after " + field_name);
  }

  // What follows a field's or attribute's name: `cmp value`, `in (value, ...)` or `between low
  // and high`, added to `node` (its field set). refused(cmp) is the error for a comparison the
  // field does not take (nullopt when it takes it); between needs `ordered` (else the error is
  // `unordered`); value(after) reads one value; `expected` is the error when none follows.
  Result<Node> parse_operation(
      Node node, const std::function<std::optional<std::string>(Cmp)>& refused, bool ordered,
      const std::string& unordered,
      const std::function<Result<Value>(const std::string& after)>& value,
      const std::string& expected) {
    const Token& op = peek();
    if (op.kind == Token::Kind::kCmp) {
      if (auto why = refused(op.cmp)) return fail(op, *why);
      advance();
      node.kind = Node::Kind::kCompare;
      node.cmp = op.cmp;
      auto v = value(quoted(to_string(op.cmp)));
      if (!v) return tl::unexpected(v.error());
      node.values.push_back(std::move(*v));
      return node;
    }
    if (is_word(op, "in")) {
      advance();
      if (peek().kind != Token::Kind::kLParen) return fail(peek(), "'(' after 'in'");
      advance();
      node.kind = Node::Kind::kIn;
      std::string after = "'('";
      while (true) {
        auto v = value(after);
        if (!v) return tl::unexpected(v.error());
        node.values.push_back(std::move(*v));
        if (peek().kind == Token::Kind::kRParen) break;
        if (peek().kind != Token::Kind::kComma)
          return fail(peek(), "',' or ')' in the list after 'in'");
        advance();
        after = "','";
      }
      advance();
      return node;
    }
    if (is_word(op, "between")) {
      if (!ordered) return fail(op, unordered);
      advance();
      node.kind = Node::Kind::kBetween;
      auto low = value("'between'");
      if (!low) return tl::unexpected(low.error());
      if (!is_word(peek(), "and")) return fail(peek(), "'and' after between's lower bound");
      advance();
      auto high = value("'and'");
      if (!high) return tl::unexpected(high.error());
      node.values = {std::move(*low), std::move(*high)};
      return node;
    }
    return fail(op, expected);
  }

  // The predicate after a custom attribute's name (the name consumed): the same forms as a
  // built-in field's, with the operators and values the attribute's type takes.
  Result<Node> parse_attribute_predicate(const AttributeDef& def) {
    const std::string field_name = quoted(def.name);
    Node node;
    node.field = Field::kAttribute;
    node.attribute = def.name;
    node.attribute_type = def.type;
    node.attribute_scale = def.type == AttributeType::kDecimal ? def.scale : 0;
    const std::string type_name(custdb::to_string(def.type));
    const std::string unordered =
        (def.type == AttributeType::kTagSet ? "= or in after " : "=, != or in after ") +
        field_name + " (" + def.name + " is a " + type_name + " attribute: it has no order)";
    return parse_operation(
        std::move(node),
        [&](Cmp cmp) -> std::optional<std::string> {
          if (field_rules::attribute_takes(def.type, cmp)) return std::nullopt;
          if (cmp == Cmp::kNe)
            return "= or in after " + field_name + " (" + def.name +
                   " is a tag_set attribute: write not " + def.name + " = t)";
          return unordered;
        },
        field_rules::attribute_ordered(def.type), unordered,
        [&](const std::string& after) { return parse_attribute_value(def, after); },
        "a comparison (" +
                        std::string(field_rules::attribute_ordered(def.type)
                                        ? "=, !=, <, <=, >, >=, in or between"
                                        : def.type == AttributeType::kTagSet ? "= or in"
                                                                             : "=, != or in") +
                        ") after " + field_name);
  }

  Result<Value> parse_attribute_value(const AttributeDef& def, const std::string& after) {
    const Token& token = peek();
    if (is_missing_value(token)) return fail(token, "a value after " + after);
    const std::string expected =
        field_rules::attribute_expectation(def, options_.amount_decimals) + " for " + def.name;
    const bool is_text = token.kind == Token::Kind::kWord || token.kind == Token::Kind::kString;
    Value value;
    switch (def.type) {
      case AttributeType::kText:
      case AttributeType::kEnum:
      case AttributeType::kTagSet:
      case AttributeType::kBool: {
        auto v = is_text ? field_rules::attribute_text_value(def, token.text) : std::nullopt;
        if (!v) return fail(token, expected);
        value = std::move(*v);
        break;
      }
      case AttributeType::kInteger:
      case AttributeType::kDecimal:
      case AttributeType::kAmount: {
        if (token.kind != Token::Kind::kNumber) return fail(token, expected);
        std::int64_t number = 0;
        switch (field_rules::attribute_number_value(def, token.text, options_.amount_decimals,
                                                    number)) {
          case field_rules::NumberError::kNone: break;
          case field_rules::NumberError::kOutOfRange:
            return fail(token, def.type == AttributeType::kAmount
                                   ? "an amount of at most " +
                                         field_rules::format_scaled(kMaxAmount,
                                                                    options_.amount_decimals) +
                                         " for " + def.name
                                   : "a number within 64 bits for " + def.name);
          default: return fail(token, expected);
        }
        value = number;
        break;
      }
      case AttributeType::kDate: {
        if (token.kind != Token::Kind::kDate) return fail(token, expected);
        auto date = parse_date(token.text);
        if (!date) return fail(token, "a valid date (YYYY-MM-DD, years 1800 to 2200)");
        value = static_cast<std::int64_t>(date->time_since_epoch().count());
        break;
      }
      case AttributeType::kTimestamp: {
        if (token.kind != Token::Kind::kDate && token.kind != Token::Kind::kTimestamp)
          return fail(token, expected);
        auto timestamp = parse_timestamp(token.text);
        if (!timestamp) {
          if (token.kind == Token::Kind::kDate)
            return fail(token, "a valid date (YYYY-MM-DD, years 1800 to 2200)");
          return fail(token, "a valid timestamp (YYYY-MM-DDTHH:MM[:SS[.mmm]][Z|+HH:MM])");
        }
        value = static_cast<std::int64_t>(timestamp->time_since_epoch().count());
        break;
      }
    }
    advance();
    return value;
  }

  tl::unexpected<Error> unknown_field(const Token& name) const {
    std::string fields, nearest;
    std::size_t nearest_distance = std::numeric_limits<std::size_t>::max();
    std::string word = normalize::lower(name.text);
    auto consider = [&](std::string_view candidate) {
      if (!fields.empty()) fields += ", ";
      fields += candidate;
      // A truncated name ('last_txn') is as near as a typo.
      bool truncated = word.size() >= 3 && candidate.starts_with(word);
      std::size_t distance = truncated ? 1 : edit_distance(word, candidate);
      if (distance < nearest_distance) nearest_distance = distance, nearest = candidate;
    };
    for (const auto& [field, field_name] : field_rules::field_names()) consider(field_name);
    for (const std::string& attribute : field_rules::attribute_names(options_.schema.get()))
      consider(attribute);
    consider("tag");
    consider("related");
    consider("holds");
    std::string note = " (";
    // A suggestion must share something with the word: 'a' is two edits from 'age' too.
    if (nearest_distance <= 2 && nearest_distance < name.text.size())
      note += "did you mean '" + nearest + "'? ";
    note += "fields: " + fields + ")";
    return fail(name, "a field", note);
  }

  Result<Value> parse_value(Field field, const std::string& after) {
    const Token& token = peek();
    if (is_missing_value(token)) return fail(token, "a value after " + after);
    std::string name(to_string(field));
    bool is_text = token.kind == Token::Kind::kWord || token.kind == Token::Kind::kString;
    Value value;
    switch (kind_of(field)) {
      case FieldKind::kEnum: {
        auto number = is_text ? field_rules::enum_number(field, token.text) : std::nullopt;
        if (!number)
          return fail(token, "one of " + field_rules::enum_names(field) + " for " + name);
        value = *number;
        break;
      }
      case FieldKind::kText: {
        auto text = is_text ? field_rules::normalize_text(field, token.text) : std::nullopt;
        if (!text) return fail(token, field_rules::text_expectation(field));
        value = std::move(*text);
        break;
      }
      case FieldKind::kInteger: {
        std::int64_t number = 0;
        if (token.kind != Token::Kind::kNumber) return fail(token, "an integer for " + name);
        switch (field_rules::parse_scaled(token.text, 0, number)) {
          case field_rules::NumberError::kNone: break;
          case field_rules::NumberError::kOutOfRange:
            return fail(token, "an integer within 64 bits");
          default: return fail(token, "an integer for " + name);
        }
        if (auto violation = field_rules::integer_range_violation(field, number))
          return fail(token, *violation);
        value = number;
        break;
      }
      case FieldKind::kAmount: {
        std::int64_t minor_units = 0;
        std::string example = options_.amount_decimals > 0 ? "1000.50" : "1000";
        if (token.kind != Token::Kind::kNumber)
          return fail(token, "an amount for " + name + " (a number like " + example + ")");
        switch (field_rules::parse_scaled(token.text, options_.amount_decimals, minor_units)) {
          case field_rules::NumberError::kNone: break;
          case field_rules::NumberError::kTooManyDecimals:
            return fail(token, "at most " + std::to_string(options_.amount_decimals) +
                                   " decimal places for " + name);
          case field_rules::NumberError::kOutOfRange:
            return fail(token, "an amount within 64 bits of minor units");
          case field_rules::NumberError::kSyntax:
            return fail(token, "an amount for " + name + " (a number like " + example + ")");
        }
        value = minor_units;
        break;
      }
      case FieldKind::kDecimal: {
        std::int64_t millionths = 0;
        if (token.kind != Token::Kind::kNumber)
          return fail(token, "a number for " + name + " (like 0.25)");
        switch (field_rules::parse_scaled(token.text, 6, millionths)) {
          case field_rules::NumberError::kNone: break;
          case field_rules::NumberError::kTooManyDecimals:
            return fail(token, "at most 6 decimal places for " + name);
          case field_rules::NumberError::kOutOfRange:
            return fail(token, "a smaller number for " + name);
          case field_rules::NumberError::kSyntax: return fail(token, "a number for " + name + " (like 0.25)");
        }
        if (millionths < 0) return fail(token, "a " + name + " of 0 or more");
        value = millionths;
        break;
      }
      case FieldKind::kDate: {
        if (token.kind != Token::Kind::kDate) return fail(token, "a date (YYYY-MM-DD) for " + name);
        auto date = parse_date(token.text);
        if (!date) return fail(token, "a valid date (YYYY-MM-DD, years 1800 to 2200)");
        value = static_cast<std::int64_t>(date->time_since_epoch().count());
        break;
      }
      case FieldKind::kTimestamp: {
        if (token.kind != Token::Kind::kDate && token.kind != Token::Kind::kTimestamp)
          return fail(token, "a date (YYYY-MM-DD) or timestamp for " + name);
        // A bare date reads as midnight UTC, as in the header.
        auto timestamp = parse_timestamp(token.text);
        if (!timestamp) {
          if (token.kind == Token::Kind::kDate)
            return fail(token, "a valid date (YYYY-MM-DD, years 1800 to 2200)");
          return fail(token, "a valid timestamp (YYYY-MM-DDTHH:MM[:SS[.mmm]][Z|+HH:MM])");
        }
        value = static_cast<std::int64_t>(timestamp->time_since_epoch().count());
        break;
      }
    }
    advance();
    return value;
  }

  Result<Node> parse_tag() {
    advance();  // "tag"
    const Token& op = peek();
    if (op.kind != Token::Kind::kCmp || op.cmp != Cmp::kEq) return fail(op, "'=' after 'tag'");
    advance();
    const Token& token = peek();
    if (is_missing_value(token)) return fail(token, "a value after '='");
    if (token.kind != Token::Kind::kWord && token.kind != Token::Kind::kString)
      return fail(token, "a tag (a word or 'quoted text')");
    auto tag = field_rules::normalize_tag(token.text);
    if (!tag) return fail(token, "a non-empty tag");
    advance();
    Node node;
    node.kind = Node::Kind::kTag;
    node.tag = std::move(*tag);
    return node;
  }

  Result<Node> parse_related(int depth) {
    const Token& keyword = peek();
    advance();
    if (peek().kind != Token::Kind::kLParen) return fail(peek(), "'(' after 'related'");
    advance();
    const Token& type = peek();
    std::string expected_type =
        "a relation type (" + field_rules::relation_names() +
        "; a directed one also as name_of) or a custom type's name";
    if (type.kind != Token::Kind::kWord && type.kind != Token::Kind::kString)
      return fail(type, expected_type);
    auto relation = field_rules::relation_from_name(type.text);
    if (!relation) return fail(type, expected_type);
    advance();
    Node node;
    node.kind = Node::Kind::kRelated;
    node.rel_type = relation->type;
    node.custom_type = std::move(relation->custom_type);
    node.rel_end = relation->end;
    if (peek().kind == Token::Kind::kComma) {
      advance();
      auto subquery = parse_or(depth + 1);
      if (!subquery) return subquery;
      node.children.push_back(std::move(*subquery));
      if (peek().kind != Token::Kind::kRParen)
        return fail(peek(), "'and', 'or' or ')' to close 'related(' at " + at(keyword));
    } else if (peek().kind != Token::Kind::kRParen) {
      return fail(peek(), "',' or ')' after the relation type");
    }
    advance();
    return node;
  }

  Result<Node> parse_holds(int depth) {
    const Token& keyword = peek();
    advance();
    if (peek().kind != Token::Kind::kLParen) return fail(peek(), "'(' after 'holds'");
    advance();
    const Token& type = peek();
    std::string expected_type =
        "a product type (" + field_rules::product_names() + ") or a custom type's name";
    if (type.kind != Token::Kind::kWord && type.kind != Token::Kind::kString)
      return fail(type, expected_type);
    auto product = field_rules::product_from_name(type.text);
    if (!product) return fail(type, expected_type);
    advance();
    Node node;
    node.kind = Node::Kind::kHolds;
    node.product_type = product->first;
    node.custom_type = std::move(product->second);
    if (peek().kind == Token::Kind::kComma) {
      advance();
      in_holding_ = true;
      auto condition = parse_or(depth + 1);
      in_holding_ = false;
      if (!condition) return condition;
      node.children.push_back(std::move(*condition));
      if (peek().kind != Token::Kind::kRParen)
        return fail(peek(), "'and', 'or' or ')' to close 'holds(' at " + at(keyword));
    } else if (peek().kind != Token::Kind::kRParen) {
      return fail(peek(), "',' or ')' after the product type");
    }
    advance();
    return node;
  }

  bool in_holding_ = false;  // parsing the condition of holds(t, q): holding fields only
  std::string_view text_;
  const ParseOptions& options_;
  std::vector<Token> tokens_;
  std::size_t next_ = 0;
};

}  // namespace

Result<Node> parse(std::string_view text, const ParseOptions& options) {
  if (options.amount_decimals < 0 || options.amount_decimals > 9)
    return make_error(ErrorCode::kInvalidArgument, "amount_decimals must be 0 to 9, not " +
                                                       std::to_string(options.amount_decimals));
  // Every operand is text compared with stored UTF-8 (the same rule as the fields): a query
  // that is not UTF-8 is refused, not answered "nothing matches".
  if (const std::size_t bad = first_non_utf8(text); bad != std::string_view::npos)
    return tl::unexpected(error_at(text, bad, "not UTF-8 (byte " + message::quoted(text.substr(bad, 1)) + ")"));
  return Parser(text, options).parse_query();
}

}  // namespace custdb::query
