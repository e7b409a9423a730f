/** safetensors import and export, state dicts and weight fetching (to come: the ResNet issue). */
package dev.fingerspell.weights;
