// custdb schema list | add | drop | rename | index: the custom attributes of a database
// (custdb/attributes.h), each a thin shell over a Database call.
//   list [--json]                   the declared attributes, with unfinished work
//   add NAME TYPE [--table T] [--indexed] [--personal] [--values a,b,c] [--scale N]
//       [--required [--default V]] [--batch N]
//   drop NAME [--table T] [--batch N]
//   rename NAME NEW_NAME [--table T]
//   index NAME [--off] [--batch N]
// The changing commands first finish any schema work a crash (or an interrupted command)
// left, printing its progress; index and drop print theirs (on stderr, when a terminal).
#include <cstdio>

#include "common.h"
#include "custdb/money.h"

namespace custdb::cli {
namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!text.empty()) out.push_back(cur);
  return out;
}

// What unfinished work an attribute has, for `list` ("" when none).
std::string work_of(const AttributeDef& a) {
  if (a.dropping) return "dropping (values removed below id " + std::to_string(a.work_cursor) + ")";
  if (a.index_state == IndexState::kBuilding)
    return "index building (done below id " + std::to_string(a.work_cursor) + ")";
  if (a.index_state == IndexState::kDropping)
    return "index dropping (done below id " + std::to_string(a.work_cursor) + ")";
  return "";
}

std::string flags_of(const AttributeDef& a) {
  std::string f;
  auto add = [&](std::string_view w) {
    if (!f.empty()) f += ',';
    f += w;
  };
  if (a.required) add("required");
  if (a.personal) add("personal");
  if (a.indexed) add("indexed");
  return f.empty() ? "-" : f;
}

Json def_json(const AttributeDef& a, int digits) {
  Json values = Json::array();
  for (const auto& v : a.values) values.push(v);
  Json j = Json::object()
               .set("id", a.id)
               .set("name", a.name)
               .set("table", std::string(to_string(a.table)))
               .set("type", std::string(to_string(a.type)))
               .set("values", std::move(values))
               .set("scale", a.scale)
               .set("required", a.required)
               .set("personal", a.personal)
               .set("indexed", a.indexed)
               .set("index_state", std::string(to_string(a.index_state)))
               .set("dropping", a.dropping)
               .set("work_cursor", a.work_cursor)
               .set("added_in", a.added_in);
  if (a.default_value) j.set("default", format_attribute_value(a, *a.default_value, digits));
  else j.set("default", Json());
  return j;
}

// Schema work options printing progress on a bar labelled after the work.
struct WorkPrinter {
  std::unique_ptr<Progress> bar;
  std::string label;
  SchemaWorkOptions options(std::size_t batch) {
    SchemaWorkOptions o;
    o.batch = batch;
    o.progress = [this](const SchemaProgress& p) {
      const std::string l = "schema " + p.work + " " + p.attribute + (p.resumed ? " (resumed)" : "");
      if (!bar || l != label) {
        if (bar) bar->finish();
        bar = std::make_unique<Progress>(l, p.total);
        label = l;
      }
      bar->update(p.done);
    };
    return o;
  }
};

AttributeTable table_arg(const std::string& t) {
  auto table = attribute_table_from_string(t);
  if (!table) die_usage("--table: expected customers or transactions, found '" + t + "'");
  return *table;
}

}  // namespace

Command add_schema(CLI::App& app, Globals& g) {
  struct Opts {
    std::string name, new_name, type, table = "customers", values, default_value;
    int scale = 0;
    bool indexed = false, personal = false, required = false, off = false;
    std::size_t batch = 1000;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("schema", "List and change the custom attributes");
  sub->require_subcommand(1);
  CLI::App* list = sub->add_subcommand("list", "The declared attributes (and unfinished work)");
  CLI::App* add = sub->add_subcommand("add", "Declare an attribute: NAME TYPE (text, enum, integer, "
                                             "decimal, amount, date, timestamp, bool, tag_set)");
  add->add_option("name", o->name, "The attribute's name")->required();
  add->add_option("type", o->type, "Its type")->required();
  add->add_option("--values", o->values, "enum: the values (a,b,c); tag_set: the allowed tags");
  add->add_option("--scale", o->scale, "decimal: the fraction digits (0..9)");
  add->add_flag("--indexed", o->indexed, "Build a segment index on it (customers only)");
  add->add_flag("--personal", o->personal, "Personal data: sealed, masked, erased");
  add->add_flag("--required", o->required, "Every record has a value (needs --default unless the table is empty)");
  add->add_option("--default", o->default_value, "The value of records without one (required only)");
  CLI::App* drop = sub->add_subcommand("drop", "Remove an attribute, its index and its values");
  drop->add_option("name", o->name, "The attribute's name")->required();
  CLI::App* rename = sub->add_subcommand("rename", "Rename an attribute (O(1))");
  rename->add_option("name", o->name, "The attribute's name")->required();
  rename->add_option("new_name", o->new_name, "Its new name")->required();
  CLI::App* index = sub->add_subcommand("index", "Build (or with --off drop) a customer attribute's segment index");
  index->add_option("name", o->name, "The attribute's name")->required();
  index->add_flag("--off", o->off, "Drop the index instead");
  for (CLI::App* s : {add, drop, rename}) s->add_option("--table", o->table, "customers (default) or transactions");
  for (CLI::App* s : {add, drop, index})
    s->add_option("--batch", o->batch, "Records per write transaction of the index or drop work")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
  for (CLI::App* s : {list, add, drop, rename, index}) s->fallthrough();

  return {sub, [&g, o, list, add, drop, rename, index] {
            if (list->parsed()) {
              Database db = open_database(g, /*read_only=*/true);
              const int digits = currency_digits(db.info().base_currency);
              const Schema s = must(db.schema());
              if (g.json) {
                Json attrs = Json::array();
                for (const AttributeDef& a : s.attributes) attrs.push(def_json(a, digits));
                print_json(Json::object()
                               .set("version", s.version)
                               .set("pending_work", s.has_pending_work())
                               .set("attributes", std::move(attrs)));
                return kExitOk;
              }
              if (s.attributes.empty()) {
                std::printf("no custom attributes (custdb schema add NAME TYPE)\n");
                return kExitOk;
              }
              TextTable t({"name", "table", "type", "values/scale", "flags", "default", "index", "work"});
              for (const AttributeDef& a : s.attributes) {
                std::string vs;
                if (a.type == AttributeType::kDecimal) vs = "scale " + std::to_string(a.scale);
                for (const auto& v : a.values) vs += (vs.empty() ? "" : ",") + v;
                t.add({a.name, std::string(to_string(a.table)), std::string(to_string(a.type)),
                       vs.empty() ? "-" : vs, flags_of(a),
                       a.default_value ? format_attribute_value(a, *a.default_value, digits) : "-",
                       a.table == AttributeTable::kCustomers ? std::string(to_string(a.index_state)) : "-",
                       work_of(a).empty() ? "-" : work_of(a)});
              }
              t.print();
              return kExitOk;
            }

            Database db = open_database(g, /*read_only=*/false);
            WorkPrinter printer;
            const SchemaWorkOptions wo = printer.options(o->batch);
            // Work a crash or an interrupted command left comes first.
            must(db.finish_schema_work(wo));
            const int digits = currency_digits(db.info().base_currency);

            if (add->parsed()) {
              AttributeDef def;
              def.name = o->name;
              def.table = table_arg(o->table);
              auto type = attribute_type_from_string(o->type);
              if (!type)
                die_usage("attribute " + o->name + ": unknown type '" + o->type +
                          "' (text, enum, integer, decimal, amount, date, timestamp, bool, tag_set)");
              def.type = *type;
              def.values = split_list(o->values);
              def.scale = o->scale;
              def.indexed = o->indexed;
              def.personal = o->personal;
              def.required = o->required;
              if (!o->default_value.empty() || add->count("--default") > 0) {
                if (!o->required) die_usage("attribute " + o->name + ": --default needs --required");
                auto v = parse_attribute_value(def, o->default_value, digits);
                if (!v) die_usage("attribute " + o->name + ": --default: " + v.error().message());
                def.default_value = std::move(*v);
              }
              AttributeDef stored = must(db.add_attribute(def, wo));
              if (printer.bar) printer.bar->finish();
              if (g.json) {
                print_json(def_json(stored, digits));
              } else {
                std::printf("attribute %s added (%s %s, id %u%s)\n", stored.name.c_str(),
                            std::string(to_string(stored.table)).c_str(),
                            std::string(to_string(stored.type)).c_str(), stored.id,
                            stored.indexed ? ", indexed" : "");
              }
              return kExitOk;
            }
            if (drop->parsed()) {
              must(db.drop_attribute(o->name, table_arg(o->table), wo));
              if (printer.bar) printer.bar->finish();
              if (g.json) print_json(Json::object().set("dropped", o->name));
              else std::printf("attribute %s dropped\n", o->name.c_str());
              return kExitOk;
            }
            if (rename->parsed()) {
              must(db.rename_attribute(o->name, o->new_name, table_arg(o->table)));
              if (g.json) print_json(Json::object().set("renamed", o->name).set("name", o->new_name));
              else std::printf("attribute %s renamed to %s\n", o->name.c_str(), o->new_name.c_str());
              return kExitOk;
            }
            // index
            (void)index;
            must(db.set_indexed(o->name, !o->off, wo));
            if (printer.bar) printer.bar->finish();
            const Schema s = must(db.schema());
            const AttributeDef* a = s.find(o->name);
            const std::string state = a ? std::string(to_string(a->index_state)) : "?";
            if (g.json) print_json(Json::object().set("attribute", o->name).set("index_state", state));
            else std::printf("attribute %s: index %s\n", o->name.c_str(), state.c_str());
            return kExitOk;
          }};
}

}  // namespace custdb::cli
