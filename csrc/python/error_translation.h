#pragma once
namespace sc {
// Turns sc::Error into the streamcore.errors class it names.
void register_error_translation();
}
